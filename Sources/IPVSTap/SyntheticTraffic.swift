import IPVSCore

/// Generated director traffic with known answers: many clients open TCP (or UDP, SCTP) connections to one virtual
/// service, the director forwards each to a real server (round robin) by the server's method, and the capture sees
/// both sides of the director — as `tcpdump -i any` on a director would. For tests, the fuzzer's seed corpus and the
/// throughput benchmark.
///
/// Link layer: the client side is interface 1 (Ethernet: the director's MAC), real server `j`'s link is interface
/// `10 + j` (Ethernet: `realServerMAC(j)`); `routes` says so to a tracker.
public struct SyntheticTraffic {
    public struct Options: Sendable {
        public var linkType: LinkType = .linuxSLL2
        /// Distinct client addresses.
        public var clients: Int = 100
        public var connections: Int = 1000
        /// Data segments each way per connection (TCP), datagrams each way (UDP).
        public var dataPackets: Int = 2
        /// Connections open at once; their packets interleave.
        public var concurrent: Int = 16
        public var payloadLength: Int = 100
        public var seed: UInt64 = 1
        /// Every this many frames, a malformed frame (cut short) is added; 0: none.
        public var malformedEvery: Int = 0
        public var startTime = CaptureTime(nanoseconds: 1_700_000_000_000_000_000)

        public init() {}
    }

    public let watched: WatchedService
    public let options: Options
    /// What a tracker must report for the generated capture.
    public private(set) var expected: [ObservedConnection] = []
    public private(set) var frames = 0
    public private(set) var malformedFrames = 0

    public static let directorMAC: UInt64 = 0x02_00_00_00_00_FE
    public static func realServerMAC(_ j: Int) -> UInt64 { 0x02_00_00_00_01_00 + UInt64(j) }
    static func clientMAC(_ i: Int) -> UInt64 { 0x02_00_00_01_00_00 + UInt64(i) }

    /// The link-layer facts a tracker needs for direct routing.
    public var routes: RouteTopology {
        var r = RouteTopology()
        for (j, rs) in watched.realServers.enumerated() {
            r.macs[Self.realServerMAC(j)] = rs.address
            r.interfaces[UInt32(10 + j)] = rs.address
        }
        return r
    }

    public static let directorAddress4 = IPAddress.v4(IPv4Address(10, 0, 0, 254))
    public static let directorAddress6 = IPAddress("fd00:0:0:ff::fe")!

    public static func clientAddress(_ i: Int, family: AddressFamily) -> IPAddress {
        family == .inet
            ? .v4(IPv4Address(UInt32(0xC633_0000) + UInt32(i)))  // 198.51.0.0/16
            : .v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: UInt64(i) + 1))
    }

    private struct Open {
        var connection: Int
        var client: Int
        var clientPort: UInt16
        var server: Int
        var step = 0
        var sequence: UInt32 = 1
    }

    private var rng: UInt64

    /// Generates the capture into `writer`.
    public init(_ watched: WatchedService, options: Options = Options(), into writer: PcapWriter) {
        guard case .address(let transport, let vip, let vport) = watched.service.key else {
            preconditionFailure("SyntheticTraffic needs an address service")
        }
        self.watched = watched
        self.options = options
        self.rng = options.seed
        var time = options.startTime.nanoseconds
        var open: [Open] = []
        var started = 0
        var nextPort: [UInt16] = Array(repeating: 1024, count: options.clients)
        while started < options.connections || !open.isEmpty {
            if open.count < options.concurrent && started < options.connections
                && (open.isEmpty || next() % 3 == 0) {
                let client = Int(next() % UInt64(options.clients))
                nextPort[client] = nextPort[client] == 65535 ? 1024 : nextPort[client] + 1
                open.append(Open(connection: started, client: client, clientPort: nextPort[client],
                                 server: started % watched.realServers.count))
                expected.append(ObservedConnection(
                    firstSeen: CaptureTime(nanoseconds: 0), transport: transport,
                    client: Self.clientAddress(client, family: vip.family), clientPort: nextPort[client],
                    virtualAddress: vip, virtualPort: vport))
                started += 1
                // The opening goes out at once, so that connections open in the order they were started.
                _ = emitStep(&open[open.count - 1], transport: transport, vip: vip, vport: vport, time: &time,
                             writer: writer)
                continue
            }
            let k = Int(next() % UInt64(open.count))
            let done = emitStep(&open[k], transport: transport, vip: vip, vport: vport, time: &time, writer: writer)
            if done { open.remove(at: k) }
        }
    }

    private mutating func next() -> UInt64 {
        // SplitMix64.
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// One packet exchange of connection `o` (its copies on both sides of the director); true when it was the last.
    private mutating func emitStep(_ o: inout Open, transport: IPProtocol, vip: IPAddress, vport: UInt16,
                                   time: inout UInt64, writer: PcapWriter) -> Bool {
        let rs = watched.realServers[o.server]
        let client = Self.clientAddress(o.client, family: vip.family)
        // TCP: SYN, SYN-ACK, ACK, 2 × dataPackets segments (client first), FIN, FIN-ACK. UDP and SCTP:
        // 2 × dataPackets datagrams or packets, client first.
        let last = transport == .tcp ? 4 + 2 * options.dataPackets : 2 * max(options.dataPackets, 1) - 1
        let fromClient: Bool
        var segment: [UInt8]
        switch transport {
        case .tcp:
            // SYN, SYN-ACK, ACK, then data alternating, then FIN from the client and FIN-ACK back.
            let flags: TCPFlags
            let payload: Int
            switch o.step {
            case 0: (fromClient, flags, payload) = (true, .syn, 0)
            case 1: (fromClient, flags, payload) = (false, [.syn, .ack], 0)
            case 2: (fromClient, flags, payload) = (true, .ack, 0)
            case last - 1: (fromClient, flags, payload) = (true, [.fin, .ack], 0)
            case last: (fromClient, flags, payload) = (false, [.fin, .ack], 0)
            default: (fromClient, flags, payload) = (o.step % 2 == 1, [.psh, .ack], options.payloadLength)
            }
            segment = fromClient
                ? PacketBuilder.tcp(source: o.clientPort, destination: vport, flags: flags, sequence: o.sequence,
                                    payloadLength: payload)
                : PacketBuilder.tcp(source: vport, destination: o.clientPort, flags: flags, sequence: o.sequence,
                                    payloadLength: payload)
        case .udp:
            fromClient = o.step % 2 == 0
            segment = fromClient
                ? PacketBuilder.udp(source: o.clientPort, destination: vport, payloadLength: options.payloadLength)
                : PacketBuilder.udp(source: vport, destination: o.clientPort, payloadLength: options.payloadLength)
        case .sctp:
            fromClient = o.step % 2 == 0
            let chunk: UInt8 = o.step == 0 ? SCTPChunkType.initiation : (o.step == 1 ? SCTPChunkType.initiationAck
                                                                         : SCTPChunkType.data)
            segment = fromClient
                ? PacketBuilder.sctp(source: o.clientPort, destination: vport, chunk: chunk)
                : PacketBuilder.sctp(source: vport, destination: o.clientPort, chunk: chunk)
        }
        o.sequence &+= 1000
        let proto = UInt8(transport.rawValue)
        let serverLink = UInt32(10 + o.server)
        if fromClient {
            let ip = PacketBuilder.ip(source: client, destination: vip, protocol: proto, payload: segment)
            if o.step == 0 { expected[o.connection].firstSeen = CaptureTime(nanoseconds: time) }
            expected[o.connection].packets += 1
            expected[o.connection].bytes += UInt64(ip.count)
            emit(ip, interface: 1, destinationMAC: Self.directorMAC, sourceMAC: Self.clientMAC(o.client),
                 packetType: 0, time: &time, writer: writer)
            // The director's copy towards the real server.
            let copy: [UInt8]
            switch rs.forwarding {
            case .masquerade:
                var rewritten = segment
                rewritten[2] = UInt8(rs.port >> 8)
                rewritten[3] = UInt8(truncatingIfNeeded: rs.port)
                copy = PacketBuilder.ip(source: client, destination: rs.address, protocol: proto, payload: rewritten)
            case .route:
                copy = ip
            case .tunnel:
                let director = rs.address.family == .inet ? Self.directorAddress4 : Self.directorAddress6
                switch rs.tunnelType {
                case .ipip: copy = PacketBuilder.ipInIP(outerSource: director, outerDestination: rs.address, inner: ip)
                case .gre: copy = PacketBuilder.ip(source: director, destination: rs.address, protocol: 47,
                                                   payload: PacketBuilder.gre(inner: ip))
                case .gue: copy = PacketBuilder.ip(source: director, destination: rs.address, protocol: 17,
                                                   payload: PacketBuilder.udp(source: 49152, destination: rs.tunnelPort,
                                                                              payload: PacketBuilder.gue(inner: ip)))
                }
            case .local:
                copy = []
            }
            if !copy.isEmpty {
                emit(copy, interface: serverLink, destinationMAC: Self.realServerMAC(o.server),
                     sourceMAC: Self.directorMAC, packetType: 4, time: &time, writer: writer)
            }
            if o.step == 0 {
                expected[o.connection].realServer = rs.address
                expected[o.connection].realPort = rs.port
                expected[o.connection].forwarding = rs.forwarding
            }
        } else {
            if rs.forwarding == .masquerade {
                var fromServer = segment
                fromServer[0] = UInt8(rs.port >> 8)
                fromServer[1] = UInt8(truncatingIfNeeded: rs.port)
                emit(PacketBuilder.ip(source: rs.address, destination: client, protocol: proto, payload: fromServer),
                     interface: serverLink, destinationMAC: Self.directorMAC, sourceMAC: Self.realServerMAC(o.server),
                     packetType: 0, time: &time, writer: writer)
            }
            // The reply on the client's side (rewritten back by the director for NAT, straight from the real
            // server otherwise).
            emit(PacketBuilder.ip(source: vip, destination: client, protocol: proto, payload: segment),
                 interface: 1, destinationMAC: Self.clientMAC(o.client), sourceMAC: Self.directorMAC, packetType: 4,
                 time: &time, writer: writer)
        }
        o.step += 1
        return o.step > last
    }

    private mutating func emit(_ ip: [UInt8], interface: UInt32, destinationMAC: UInt64, sourceMAC: UInt64,
                               packetType: UInt8, time: inout UInt64, writer: PcapWriter) {
        let frame = PacketBuilder.frame(options.linkType, ip: ip, destinationMAC: destinationMAC,
                                        sourceMAC: sourceMAC, interfaceIndex: interface, packetType: packetType)
        writer.append(frame, time: CaptureTime(nanoseconds: time))
        frames += 1
        time += 1000
        if options.malformedEvery > 0 && frames % options.malformedEvery == 0 {
            // Cut inside the link or IP header, so that it can never decode.
            let link = options.linkType == .ethernet ? 14 : options.linkType == .linuxSLL ? 16
                : options.linkType == .linuxSLL2 ? 20 : 0
            let cut = Int(next() % UInt64(link + 20))
            writer.append(frame[..<cut], time: CaptureTime(nanoseconds: time))
            frames += 1
            malformedFrames += 1
            time += 1000
        }
    }
}
