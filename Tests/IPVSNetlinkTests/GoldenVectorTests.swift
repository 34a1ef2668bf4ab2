import CIPVSNetlink
import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// The services and destinations of Fixtures/capture's ipvsadm commands, as IPVSCore values.
enum Fixture {
    static let tcp = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .wlc)
    static let udp6 = VirtualService(
        .address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .rr, flags: .persistent,
        persistenceTimeout: 300, netmask: 64)
    static let fwmark = VirtualService(.firewallMark(7, .inet), scheduler: .sh, flags: [.shFallback, .shPort])
    static let sip = VirtualService(
        .address(.udp, IPAddress("10.0.0.3")!, port: 5060), scheduler: .lc, flags: .persistent,
        persistenceTimeout: 60, netmask: 0xffff_ff00, persistenceEngine: "sip")
    static let masq = RealServer(
        IPAddress("10.0.1.2")!, port: 8080, forwarding: .masquerade, weight: 3, upperThreshold: 100, lowerThreshold: 50)
    static let route6 = RealServer(IPAddress("2001:db8::2")!, port: 53, forwarding: .route)
    static let tunnel = RealServer(IPAddress("10.0.1.3")!, port: 80, forwarding: .tunnel, weight: 0)
    static var tcpRR: VirtualService {
        var s = tcp
        s.scheduler = .rr
        return s
    }
    static var masqEdited: RealServer {
        var r = masq
        r.weight = 5
        r.upperThreshold = 0
        r.lowerThreshold = 0
        return r
    }
}

/// Requests encoded by IPVSRequest against the ones ipvsadm sent to the real kernel (Fixtures/ipvsadm-kernel.txt).
@Suite struct GoldenRequestTests {
    static let full: [(String, IPVSRequest)] = [
        ("-A -t 10.0.0.1:80 -s wlc", .newService(Fixture.tcp)),
        ("-A -u [2001:db8::1]:53 -s rr -p 300 -M 64", .newService(Fixture.udp6)),
        ("-A -f 7 -s sh -b sh-fallback,sh-port", .newService(Fixture.fwmark)),
        ("-A -u 10.0.0.3:5060 -s lc -p 60 -M 255.255.255.0 --pe sip", .newService(Fixture.sip)),
        ("-E -t 10.0.0.1:80 -s rr", .setService(Fixture.tcpRR)),
        ("--set 900 120 300", .setConfig(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300))),
        ("-C", .flush),
        ("-Ln", .getInfo),
        ("-Ln", .dumpServices),
        ("-L --timeout", .getConfig),
        ("-L -n -t 10.0.0.1:80", .dumpDestinations(of: Fixture.tcp)),
    ]

    @Test(arguments: full)
    func requestIsByteForByteWhatIpvsadmSent(command: String, request: IPVSRequest) throws {
        let block = try #require(GoldenVectors.shared.block(command))
        let theirs = try #require(block.request(Int(request.command)), "no command \(request.command) in \(command)")
        let header = try CapturedHeader(theirs)
        let ours = try request.encode(family: header.family, sequence: header.sequence, portID: header.portID)
        #expect(ours == theirs, "\(Attribute.top(ours)) vs \(Attribute.top(theirs))")
    }

    /// ipvsadm sends the whole destination: ours is byte for byte the same. In the service nest libipvs adds
    /// empty fields the kernel does not read for destination commands; the key attributes must match.
    static let destinations: [(String, IPVSRequest)] = [
        ("-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 3 -x 100 -y 50", .newDestination(Fixture.masq, in: Fixture.tcp)),
        ("-a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -g", .newDestination(Fixture.route6, in: Fixture.udp6)),
        ("-a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 0", .newDestination(Fixture.tunnel, in: Fixture.tcp)),
        ("-e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 5", .setDestination(Fixture.masqEdited, in: Fixture.tcp)),
    ]

    @Test(arguments: destinations)
    func destinationRequestMatchesIpvsadmsDestinationAndServiceKey(command: String, request: IPVSRequest) throws {
        let (ours, theirs) = try Self.pair(command, request)
        #expect(Array(ours[4..<20]) == Array(theirs[4..<20]), "netlink and generic netlink headers")
        let ourTop = Attribute.top(ours)
        let theirTop = Attribute.top(theirs)
        #expect(
            ourTop.first { $0.type == Int(IPVS_CMD_ATTR_DEST) } == theirTop.first { $0.type == Int(IPVS_CMD_ATTR_DEST) }
        )
        #expect(Self.serviceKey(ourTop) == Self.serviceKey(theirTop))
        #expect(Self.serviceKey(ourTop) == ourTop.first { $0.type == Int(IPVS_CMD_ATTR_SERVICE) }?.children)
    }

    /// Requests that name an entry by its key: ours carry the key only, with the same bytes as ipvsadm's.
    static let keys: [(String, IPVSRequest)] = [
        ("-d -t 10.0.0.1:80 -r 10.0.1.3:80", .deleteDestination(Fixture.tunnel, in: Fixture.tcp)),
        ("-D -u 10.0.0.3:5060", .deleteService(Fixture.sip)),
        ("-L -n -t 10.0.0.1:80", .getService(Fixture.tcp)),
    ]

    @Test(arguments: keys)
    func keyRequestCarriesIpvsadmsKeyAttributes(command: String, request: IPVSRequest) throws {
        let (ours, theirs) = try Self.pair(command, request)
        #expect(Array(ours[4..<20]) == Array(theirs[4..<20]))
        let ourTop = Attribute.top(ours)
        let theirTop = Attribute.top(theirs)
        #expect(Self.serviceKey(ourTop) == Self.serviceKey(theirTop))
        #expect(Self.destinationKey(ourTop) == Self.destinationKey(theirTop))
    }

    static func pair(_ command: String, _ request: IPVSRequest) throws -> ([UInt8], [UInt8]) {
        let block = try #require(GoldenVectors.shared.block(command))
        let theirs = try #require(block.request(Int(request.command)))
        let header = try CapturedHeader(theirs)
        return (try request.encode(family: header.family, sequence: header.sequence, portID: header.portID), theirs)
    }

    static func serviceKey(_ top: [Attribute]) -> [Attribute]? {
        let key: Set<Int> = [
            Int(IPVS_SVC_ATTR_AF), Int(IPVS_SVC_ATTR_PROTOCOL), Int(IPVS_SVC_ATTR_ADDR), Int(IPVS_SVC_ATTR_PORT),
            Int(IPVS_SVC_ATTR_FWMARK),
        ]
        return top.first { $0.type == Int(IPVS_CMD_ATTR_SERVICE) }?.children.filter { key.contains($0.type) }
    }

    static func destinationKey(_ top: [Attribute]) -> [Attribute]? {
        let key: Set<Int> = [Int(IPVS_DEST_ATTR_ADDR_FAMILY), Int(IPVS_DEST_ATTR_ADDR), Int(IPVS_DEST_ATTR_PORT)]
        return top.first { $0.type == Int(IPVS_CMD_ATTR_DEST) }?.children.filter { key.contains($0.type) }
    }
}

/// The kernel's replies in Fixtures/ipvsadm-kernel.txt, decoded.
@Suite struct GoldenReplyTests {
    @Test func infoReplyIsVersion121WithA4096EntryTable() throws {
        let block = try #require(GoldenVectors.shared.block("-Ln"))
        let info = try IPVSReplyDecoder.info(try #require(block.dataReplies.first))
        #expect(info.version == "1.2.1")
        #expect(info.versionCode == 0x01_02_01)
        #expect(info.connectionTableSize == 4096)
    }

    @Test func serviceDumpDecodesEveryServiceIpvsadmAdded() throws {
        let block = try #require(GoldenVectors.shared.block("-Ln", occurrence: 1))
        // The GET_INFO reply, then one message per service until NLMSG_DONE, then the destination dumps.
        let services = try block.dataReplies.filter { $0.count > 16 && Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE) }
            .map(IPVSReplyDecoder.service)
        #expect(Set(services.map(\.service)) == [Fixture.tcpRR, Fixture.udp6, Fixture.fwmark, Fixture.sip])
        for entry in services {
            #expect(entry.kernelFlags.contains(.hashed))
            #expect(entry.statistics.is64Bit)
            #expect(entry.statistics == Self.zero64)
        }
    }

    @Test func destinationDumpsDecodeInTheKernelsListOrder() throws {
        let block = try #require(GoldenVectors.shared.block("-Ln", occurrence: 1))
        let destinations = try block.dataReplies.filter { $0.count > 16 && Int($0[16]) == Int(IPVS_CMD_NEW_DEST) }
            .map(IPVSReplyDecoder.destination)
        // New destinations go to the head of the list (ip_vs_ctl.c __ip_vs_update_dest: list_add_rcu): the tunnel
        // was added after the masquerading one.
        #expect(Set(destinations.map(\.server)) == [Fixture.masqEdited, Fixture.tunnel, Fixture.route6])
        let tcpOrder = destinations.map(\.server).filter { $0.address.family == .inet }
        #expect(tcpOrder == [Fixture.tunnel, Fixture.masqEdited])
        for entry in destinations {
            #expect(entry.activeConnections == 0 && entry.inactiveConnections == 0 && entry.persistentConnections == 0)
            #expect(entry.statistics == Self.zero64)
        }
    }

    @Test func getServiceReplyDecodesTheOneService() throws {
        let block = try #require(GoldenVectors.shared.block("-L -n -t 10.0.0.1:80"))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE) })
        #expect(try IPVSReplyDecoder.service(reply).service == Fixture.tcpRR)
    }

    @Test func configReplyHoldsTheTimeoutsSet() throws {
        let block = try #require(GoldenVectors.shared.block("-L --timeout"))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_SET_CONFIG) })
        #expect(try IPVSReplyDecoder.timeouts(reply) == IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300))
    }

    @Test(arguments: [
        ("-A -t 10.0.0.1:80 -s wlc", 1, EEXIST, IPVSError.Operation.addService, "Service already exists"),
        ("-D -t 10.9.9.9:80", 0, ESRCH, .deleteService, "No such service"),
        ("-d -t 10.0.0.1:80 -r 10.0.1.9:80", 0, ENOENT, .deleteDestination, "No such destination"),
    ])
    func kernelErrorsCarryTheErrnoIpvsadmReports(
        command: String, occurrence: Int, errno: Int32, operation: IPVSError.Operation, message: String
    ) throws {
        let block = try #require(GoldenVectors.shared.block(command, occurrence: occurrence))
        let frames = try block.received.flatMap { try NetlinkFrame.split($0) }
        let codes = frames.compactMap(\.errorCode).filter { $0 != 0 }
        #expect(codes == [-errno])
        #expect(IPVSError(operation, .kernel(errno: errno)).description == "\(operation.rawValue): \(message)")
    }

    @Test func nestedAttributesAreWalkedInTheKernelsOrder() throws {
        let block = try #require(GoldenVectors.shared.block("-L -n -t 10.0.0.1:80"))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE) })
        let types = try IPVSReplyDecoder.nestedAttributeTypes(reply, nested: Int(IPVS_CMD_ATTR_SERVICE))
        #expect(types == Attribute.top(reply).first { $0.type == Int(IPVS_CMD_ATTR_SERVICE) }?.children.map(\.type))
        #expect(types.first == Int(IPVS_SVC_ATTR_AF))
        #expect(types.contains(Int(IPVS_SVC_ATTR_STATS64)))
    }

    /// Kernels before 3.19 send only the 32-bit IPVS_SVC_ATTR_STATS: the same reply without STATS64 decodes from it.
    @Test func statisticsFallBackTo32BitWithoutStats64() throws {
        let block = try #require(GoldenVectors.shared.block("-L -n -t 10.0.0.1:80"))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE) })
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_SERVICE) })
        top[index].children.removeAll { $0.type == Int(IPVS_SVC_ATTR_STATS64) }
        // Give the 32-bit counters values that show which attribute they came from.
        let stats = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_SVC_ATTR_STATS) })
        for i in top[index].children[stats].children.indices {
            let child = top[index].children[stats].children[i]
            let value = UInt64(child.type * 1000 + 7)
            top[index].children[stats].children[i].payload = (0..<child.payload.count).map {
                UInt8((value >> (8 * $0)) & 0xff)
            }
        }
        let entry = try IPVSReplyDecoder.service(Attribute.message(header: Array(reply[0..<20]), top))
        #expect(!entry.statistics.is64Bit)
        #expect(entry.statistics.connections == 1007)
        #expect(entry.statistics.incomingBytes == 4007)
        #expect(entry.statistics.outgoingBytesPerSecond == 10007)
        #expect(entry.service == Fixture.tcpRR)
    }

    /// The same fallback for a destination (IPVS_DEST_ATTR_STATS64 removed): counters and rates from
    /// IPVS_DEST_ATTR_STATS, where only the byte counts are 64-bit.
    @Test func destinationStatisticsFallBackTo32BitWithoutStats64() throws {
        let block = try #require(GoldenVectors.shared.block("-Ln", occurrence: 1))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_NEW_DEST) })
        var top = Attribute.top(reply)
        let index = try #require(top.firstIndex { $0.type == Int(IPVS_CMD_ATTR_DEST) })
        #expect(top[index].children.contains { $0.type == Int(IPVS_DEST_ATTR_STATS64) })
        top[index].children.removeAll { $0.type == Int(IPVS_DEST_ATTR_STATS64) }
        let stats = try #require(top[index].children.firstIndex { $0.type == Int(IPVS_DEST_ATTR_STATS) })
        for i in top[index].children[stats].children.indices {
            let child = top[index].children[stats].children[i]
            let value = UInt64(child.type * 1000 + 3)
            top[index].children[stats].children[i].payload = (0..<child.payload.count).map {
                UInt8((value >> (8 * $0)) & 0xff)
            }
        }
        let fallback = try IPVSReplyDecoder.destination(Attribute.message(header: Array(reply[0..<20]), top))
        let original = try IPVSReplyDecoder.destination(reply)
        #expect(fallback.server == original.server)
        let s = fallback.statistics
        #expect(!s.is64Bit)
        #expect(
            [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes]
                == [1003, 2003, 3003, 4003, 5003])
        #expect(
            [s.connectionsPerSecond, s.incomingPacketsPerSecond, s.outgoingPacketsPerSecond, s.incomingBytesPerSecond,
             s.outgoingBytesPerSecond] == [6003, 7003, 8003, 9003, 10003])
    }

    @Test func truncatedReplyIsRejected() throws {
        let block = try #require(GoldenVectors.shared.block("-L -n -t 10.0.0.1:80"))
        let reply = try #require(block.dataReplies.first { Int($0[16]) == Int(IPVS_CMD_NEW_SERVICE) })
        #expect(throws: IPVSCodecError.self) { try IPVSReplyDecoder.service(Array(reply.prefix(40))) }
    }

    static var zero64: IPVSStatistics {
        var s = IPVSStatistics()
        s.is64Bit = true
        return s
    }
}

extension Attribute {
    /// Serializes attributes back into a message after `header` (netlink + generic netlink), fixing lengths.
    static func message(header: [UInt8], _ attributes: [Attribute]) -> [UInt8] {
        var out = header
        out += serialize(attributes)
        let length = UInt32(out.count)
        for i in 0..<4 { out[i] = UInt8((length >> (8 * UInt32(i))) & 0xff) }
        return out
    }

    static func serialize(_ attributes: [Attribute]) -> [UInt8] {
        var out: [UInt8] = []
        for a in attributes {
            let payload = a.children.isEmpty ? a.payload : serialize(a.children)
            let length = 4 + payload.count
            let type = a.type | (a.flaggedNested ? 0x8000 : 0)
            out += [UInt8(length & 0xff), UInt8(length >> 8), UInt8(type & 0xff), UInt8(type >> 8)] + payload
            out += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        }
        return out
    }
}
