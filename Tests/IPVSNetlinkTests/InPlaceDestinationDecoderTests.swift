import CIPVSNetlink
import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// `IPVSReplyDecoder.destination(in:)` (the dump path's decoder, no libnl) against `destination(_:)` (libnl's
/// parse under the policies) on every destination reply the kernel gave in Fixtures/ipvsadm-kernel.txt, and on
/// variants of them: the two must agree on every field.
@Suite struct InPlaceDestinationDecoderTests {
    static let replies: [[UInt8]] = GoldenVectors.shared.blocks.flatMap(\.dataReplies).filter {
        $0.count > 16 && Int($0[16]) == Int(IPVS_CMD_NEW_DEST)
    }

    static func inPlace(_ message: [UInt8]) throws(IPVSCodecError) -> IPVSDestinationEntry {
        let result: Result<IPVSDestinationEntry, IPVSCodecError> = message.withUnsafeBytes { bytes in
            do throws(IPVSCodecError) { return .success(try IPVSReplyDecoder.destination(in: bytes)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    @Test func everyCapturedDestinationReplyDecodesAsWithLibnl() throws {
        #expect(Self.replies.count >= 3)
        var families: Set<AddressFamily> = []
        for reply in Self.replies {
            let expected = try IPVSReplyDecoder.destination(reply)
            #expect(try Self.inPlace(reply) == expected)
            families.insert(expected.server.address.family)
        }
        #expect(families == [.inet, .inet6])
    }

    /// In a receive buffer a message is followed by others: only its nlmsg_len bytes are its own.
    @Test func aMessageFollowedByOthersDecodesTheSame() throws {
        let reply = try #require(Self.replies.first)
        let buffer = reply + [UInt8](repeating: 0, count: (4 - reply.count % 4) % 4) + Self.replies.last!
        #expect(try Self.inPlace(buffer) == IPVSReplyDecoder.destination(reply))
    }

    /// Kernels before 3.19 (no STATS64) and before 4.20 (no IPVS_DEST_ATTR_ADDR_FAMILY): the 32-bit statistics,
    /// and the family from the address length, as libnl's path reads them.
    @Test func olderKernelsRepliesDecodeAsWithLibnl() throws {
        for reply in Self.replies {
            var top = Attribute.top(reply)
            let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_DEST) })
            top[index].children.removeAll {
                $0.type == Int(IPVS_DEST_ATTR_STATS64) || $0.type == Int(IPVS_DEST_ATTR_ADDR_FAMILY)
            }
            let stats = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_DEST_ATTR_STATS) })
            for i in top[index].children[stats].children.indices {
                let child = top[index].children[stats].children[i]
                let value = UInt64(child.type * 1000 + 7)
                top[index].children[stats].children[i].payload = (0..<child.payload.count).map {
                    UInt8((value >> (8 * $0)) & 0xff)
                }
            }
            let older = Attribute.message(header: Array(reply[0..<20]), top)
            let expected = try IPVSReplyDecoder.destination(older)
            #expect(!expected.statistics.is64Bit && expected.statistics.connections == 1007)
            #expect(try Self.inPlace(older) == expected)
        }
    }

    @Test func anAttributeShorterThanItsTypeIsRefusedLikeLibnl() throws {
        let reply = try #require(Self.replies.first)
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_DEST) })
        let weight = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_DEST_ATTR_WEIGHT) })
        top[index].children[weight].payload = [1, 0]
        let broken = Attribute.message(header: Array(reply[0..<20]), top)
        #expect(throws: IPVSCodecError.invalidAttributes(family: "destination", libnlError: -8)) {
            try Self.inPlace(broken)
        }
        #expect(throws: IPVSCodecError.invalidAttributes(family: "destination", libnlError: -8)) {
            try IPVSReplyDecoder.destination(broken)
        }
    }

    @Test func aMissingRequiredAttributeIsNamed() throws {
        let reply = try #require(Self.replies.first)
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_DEST) })
        top[index].children.removeAll { $0.type == Int(IPVS_DEST_ATTR_PORT) }
        let broken = Attribute.message(header: Array(reply[0..<20]), top)
        #expect(throws: IPVSCodecError.missingAttribute("IPVS_DEST_ATTR_PORT")) { try Self.inPlace(broken) }
        #expect(throws: IPVSCodecError.missingAttribute("IPVS_DEST_ATTR_PORT")) {
            try IPVSReplyDecoder.destination(broken)
        }
    }

    @Test func aMessageLongerThanItsBufferIsTruncated() throws {
        let reply = try #require(Self.replies.first)
        #expect(throws: IPVSCodecError.truncated) { try Self.inPlace(Array(reply.dropLast(4))) }
    }
}

/// `IPVSReplyDecoder.service(in:)` (the service dump's decoder, no libnl) against `service(_:)` on every service
/// reply the kernel gave in Fixtures/ipvsadm-kernel.txt (IPv4, IPv6, fwmark, a persistence engine).
@Suite struct InPlaceServiceDecoderTests {
    static let replies: [[UInt8]] = GoldenVectors.shared.blocks.flatMap(\.dataReplies).filter {
        $0.count > 16 && Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE)
    }

    static func inPlace(_ message: [UInt8], readsStatistics: Bool = true) throws(IPVSCodecError) -> IPVSServiceEntry {
        let result: Result<IPVSServiceEntry, IPVSCodecError> = message.withUnsafeBytes { bytes in
            do throws(IPVSCodecError) {
                return .success(try IPVSReplyDecoder.service(in: bytes, readsStatistics: readsStatistics))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    @Test func everyCapturedServiceReplyDecodesAsWithLibnl() throws {
        #expect(Self.replies.count >= 4)
        var kinds: Set<String> = []
        for reply in Self.replies {
            let expected = try IPVSReplyDecoder.service(reply)
            #expect(try Self.inPlace(reply) == expected)
            switch expected.service.key {
            case .firewallMark: kinds.insert("fwmark")
            case .address(_, let address, _): kinds.insert(address.family == .inet ? "inet" : "inet6")
            }
            if expected.service.persistenceEngine != nil { kinds.insert("engine") }
        }
        #expect(kinds == ["fwmark", "inet", "inet6", "engine"])
    }

    /// libnl's entry or error for `reply`, and the in-place decoder's.
    static func bothResults(
        _ reply: [UInt8], readsStatistics: Bool = true
    ) -> (libnl: Result<IPVSServiceEntry, IPVSCodecError>, inPlace: Result<IPVSServiceEntry, IPVSCodecError>) {
        let libnl: Result<IPVSServiceEntry, IPVSCodecError>
        do throws(IPVSCodecError) { libnl = .success(try IPVSReplyDecoder.service(reply)) } catch {
            libnl = .failure(error)
        }
        let ours: Result<IPVSServiceEntry, IPVSCodecError>
        do throws(IPVSCodecError) { ours = .success(try inPlace(reply, readsStatistics: readsStatistics)) } catch {
            ours = .failure(error)
        }
        return (libnl, ours)
    }

    /// `reply` with its scheduler name's payload replaced.
    static func withSchedulerName(_ payload: [UInt8], in reply: [UInt8]) throws -> [UInt8] {
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_SERVICE) })
        let name = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_SVC_ATTR_SCHED_NAME) })
        top[index].children[name].payload = payload
        return Attribute.message(header: Array(reply[0..<20]), top)
    }

    /// The scheduler is read from the name's bytes (not through a String): every kernel scheduler's name gives
    /// its kind, and any other name (longer, a prefix, empty, with bytes after its NUL) libnl's path's error.
    @Test func everySchedulerNameDecodesAsWithLibnl() throws {
        let reply = try #require(Self.replies.first)
        var names = SchedulerKind.allCases.map { Array($0.rawValue.utf8) + [0] }
        names += ["lblcrr", "wl", "", "rrrrrrrr", "lblcr-long-name"].map { Array($0.utf8) + [0] }
        names += [Array("rr".utf8) + [0, 0x77, 0], Array("r".utf8) + [0, 0, 0, 0]]
        var decoded: Set<SchedulerKind> = []
        for name in names {
            let variant = try Self.withSchedulerName(name, in: reply)
            let (libnl, ours) = Self.bothResults(variant)
            #expect(ours == libnl, "scheduler name \(name)")
            if case .success(let entry) = ours { decoded.insert(entry.service.scheduler) }
        }
        #expect(decoded == Set(SchedulerKind.allCases))
    }

    /// Without `readsStatistics` the counters are zero and every other field is libnl's; the statistics nest is
    /// still checked, so a broken one is refused as libnl refuses it.
    @Test func unreadCountersAreZeroAndTheirNestIsStillChecked() throws {
        var checked = 0
        for reply in Self.replies {
            var expected = try IPVSReplyDecoder.service(reply)
            expected.statistics = IPVSStatistics()
            #expect(try Self.inPlace(reply, readsStatistics: false) == expected)
            // Each statistics nest of the reply, with its first counter cut to two bytes.
            let top = Attribute.top(reply)
            let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_SERVICE) })
            for nest in [Int(IPVS_SVC_ATTR_STATS), Int(IPVS_SVC_ATTR_STATS64)] {
                guard let at = top[index].children.firstIndex(where: { $0.type == nest }),
                    !top[index].children[at].children.isEmpty
                else { continue }
                var broken = top
                broken[index].children[at].children[0].payload = [1, 2]
                let variant = Attribute.message(header: Array(reply[0..<20]), broken)
                let (libnl, ours) = Self.bothResults(variant, readsStatistics: false)
                guard case .failure = libnl else { continue }
                #expect(ours == libnl)
                checked += 1
            }
        }
        #expect(checked >= Self.replies.count)
    }

    @Test func aSchedulerNameWithoutItsNulIsRefusedLikeLibnl() throws {
        let reply = try #require(Self.replies.first)
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_SERVICE) })
        let name = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_SVC_ATTR_SCHED_NAME) })
        top[index].children[name].payload = Array("rr".utf8)
        let broken = Attribute.message(header: Array(reply[0..<20]), top)
        #expect(throws: IPVSCodecError.invalidAttributes(family: "service", libnlError: -7)) {
            try Self.inPlace(broken)
        }
        #expect(throws: IPVSCodecError.invalidAttributes(family: "service", libnlError: -7)) {
            try IPVSReplyDecoder.service(broken)
        }
    }
}
