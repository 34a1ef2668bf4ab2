import CIPVSNetlink
import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// ``IPVSDestinationDecoder`` (the table dumps' decoder, which reads a reply from the layout of the one before when
/// their attribute headers match) against libnl's parse (`IPVSReplyDecoder.destination(_:)`): every reply, and
/// every variant of one, decoded right after the reply it was made from must give libnl's entry or libnl's error,
/// and only the replies whose headers all match may skip the full walk.
@Suite struct IPVSDestinationDecoderTests {
    static let replies = InPlaceDestinationDecoderTests.replies

    static func decode(
        _ decoder: inout IPVSDestinationDecoder, _ message: [UInt8]
    ) throws(IPVSCodecError) -> IPVSDestinationEntry {
        let result: Result<IPVSDestinationEntry, IPVSCodecError> = message.withUnsafeBytes { bytes in
            do throws(IPVSCodecError) { return .success(try decoder.decode(bytes)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// libnl's result for `message`, and the decoder's right after it decoded `before`: the same entry or the
    /// same error. Returns whether the decoder read `message` from the remembered layout.
    @discardableResult
    static func expectLikeLibnl(
        _ message: [UInt8], after before: [UInt8], statistics: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Bool {
        var decoder = IPVSDestinationDecoder(readsStatistics: statistics)
        _ = try? decode(&decoder, before)
        let reusedBefore = decoder.reused
        let expected: Result<IPVSDestinationEntry, IPVSCodecError>
        do throws(IPVSCodecError) { expected = .success(try IPVSReplyDecoder.destination(message)) } catch {
            expected = .failure(error)
        }
        let actual: Result<IPVSDestinationEntry, IPVSCodecError>
        do throws(IPVSCodecError) { actual = .success(try decode(&decoder, message)) } catch {
            actual = .failure(error)
        }
        switch (expected, actual) {
        case (.success(var e), .success(let a)):
            if !statistics { e.statistics = IPVSStatistics() }
            #expect(a == e, sourceLocation: sourceLocation)
        case (.failure(let e), .failure(let a)):
            #expect(a == e, sourceLocation: sourceLocation)
        default:
            Issue.record("libnl: \(expected), decoder: \(actual)", sourceLocation: sourceLocation)
        }
        return decoder.reused > reusedBefore
    }

    /// The reply with `change` applied to its destination nest's attributes.
    static func variant(_ reply: [UInt8], _ change: (inout [Attribute]) -> Void) throws -> [UInt8] {
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_DEST) })
        change(&top[index].children)
        return Attribute.message(header: Array(reply[0..<20]), top)
    }

    static func setPayload(_ type: Int, _ payload: [UInt8]) -> (inout [Attribute]) -> Void {
        { attributes in
            if let i = attributes.firstIndex(where: { $0.type == type }) { attributes[i].payload = payload }
        }
    }

    @Test func aReplyAfterOneOfTheSameLayoutIsReadFromItAndDecodesAsWithLibnl() throws {
        #expect(Self.replies.count >= 3)
        var reusedAny = false
        for before in Self.replies {
            for reply in Self.replies {
                let reused = try Self.expectLikeLibnl(reply, after: before)
                try Self.expectLikeLibnl(reply, after: before, statistics: false)
                // Same length and headers, read from the layout; a reply of another layout is walked.
                let sameLayout =
                    reply.count == before.count
                    && Attribute.top(reply).map(\.shape) == Attribute.top(before).map(\.shape)
                #expect(reused == sameLayout, "\(reply) after \(before)")
                reusedAny = reusedAny || reused
            }
        }
        #expect(reusedAny)
    }

    /// Values change from one reply to the next, headers do not: the values that decide an error (the family,
    /// the forwarding method, the tunnel type) are checked on every reply read from the layout.
    @Test func valuesAreCheckedOnEveryReplyReadFromTheLayout() throws {
        for reply in Self.replies {
            let changes: [(inout [Attribute]) -> Void] = [
                Self.setPayload(Int(IPVS_DEST_ATTR_ADDR_FAMILY), [7, 0]),
                Self.setPayload(Int(IPVS_DEST_ATTR_FWD_METHOD), [9, 0, 0, 0]),
                Self.setPayload(Int(IPVS_DEST_ATTR_TUN_TYPE), [9]),
                Self.setPayload(Int(IPVS_DEST_ATTR_WEIGHT), [0xff, 0xff, 0xff, 0x7f]),
                Self.setPayload(Int(IPVS_DEST_ATTR_ACTIVE_CONNS), [1, 2, 3, 4]),
                Self.setPayload(Int(IPVS_DEST_ATTR_PORT), [0x1f, 0x90]),
            ]
            for change in changes {
                let changed = try Self.variant(reply, change)
                #expect(changed.count == reply.count)
                #expect(try Self.expectLikeLibnl(changed, after: reply), "same headers: read from the layout")
            }
            // The statistics' values too, when they are read.
            let counted = try Self.variant(reply) { attributes in
                for i in attributes.indices where !attributes[i].children.isEmpty {
                    for j in attributes[i].children.indices {
                        attributes[i].children[j].payload = attributes[i].children[j].payload.map { $0 &+ 3 }
                    }
                }
            }
            #expect(try Self.expectLikeLibnl(counted, after: reply))
        }
    }

    /// Any change to a header (a shorter attribute, a missing or extra one, a duplicate, a broken statistics
    /// nest, trailing bytes) sends the reply through the full walk, with libnl's verdict.
    @Test func aReplyWhoseHeadersDifferIsWalkedWithLibnlsVerdict() throws {
        for reply in Self.replies {
            let changes: [(String, (inout [Attribute]) -> Void)] = [
                ("short weight", Self.setPayload(Int(IPVS_DEST_ATTR_WEIGHT), [1, 0])),
                ("no port", { $0.removeAll { $0.type == Int(IPVS_DEST_ATTR_PORT) } }),
                ("no family", { $0.removeAll { $0.type == Int(IPVS_DEST_ATTR_ADDR_FAMILY) } }),
                (
                    "duplicate weight",
                    { a in
                        if let w = a.first(where: { $0.type == Int(IPVS_DEST_ATTR_WEIGHT) }) {
                            a.append(Attribute(type: w.type, payload: [5, 0, 0, 0], children: []))
                        }
                    }
                ),
                ("unknown type", { $0.append(Attribute(type: 200, payload: [1, 2, 3, 4], children: [])) }),
                (
                    "short counter",
                    { a in
                        for i in a.indices where a[i].type == Int(IPVS_DEST_ATTR_STATS64) {
                            a[i].children[0].payload = [1, 0, 0, 0]
                        }
                    }
                ),
                (
                    "short 32-bit counter without STATS64",
                    { a in
                        a.removeAll { $0.type == Int(IPVS_DEST_ATTR_STATS64) }
                        for i in a.indices where a[i].type == Int(IPVS_DEST_ATTR_STATS) {
                            a[i].children[3].payload = [1, 0, 0, 0]
                        }
                    }
                ),
            ]
            for (name, change) in changes {
                let changed = try Self.variant(reply, change)
                #expect(try !Self.expectLikeLibnl(changed, after: reply), "\(name): walked")
                #expect(try !Self.expectLikeLibnl(changed, after: reply, statistics: false), "\(name): walked")
            }
            // Bytes after the last attribute that make no attribute: libnl ignores them; such a layout is never
            // remembered, so the reply after it is walked too.
            var trailing = reply + [1, 0, 0, 0]
            trailing[0] &+= 4
            #expect(try !Self.expectLikeLibnl(trailing, after: reply))
            #expect(try !Self.expectLikeLibnl(reply, after: trailing))
        }
    }

    /// A reply whose headers match but whose length differs (or that is cut short) is not read from the layout.
    @Test func aReplyOfAnotherLengthIsNotReadFromTheLayout() throws {
        let reply = try #require(Self.replies.first)
        #expect(try !Self.expectLikeLibnl(Array(reply.dropLast(4)), after: reply))
        var longer = reply
        longer[0] &+= 8
        #expect(try !Self.expectLikeLibnl(longer + [0, 0, 0, 0, 0, 0, 0, 0], after: reply))
    }
}

extension Attribute {
    /// The headers of an attribute and of the attributes inside it: its type and length, not its values.
    var shape: [Int] { [type, payload.count] + children.flatMap(\.shape) }
}
