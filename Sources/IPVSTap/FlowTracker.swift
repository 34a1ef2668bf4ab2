import IPVSCore

/// A virtual service the tap watches, with its real servers (the kernel's table, or the part of it being checked).
public struct WatchedService: Hashable, Sendable {
    public var service: VirtualService
    public var realServers: [RealServer]

    public init(_ service: VirtualService, realServers: [RealServer]) {
        self.service = service
        self.realServers = realServers
    }
}

/// What tells a direct-routing (Route) frame on its way to a real server from the client's frame to the director:
/// both carry the same IP header (client → VIP), only the link layer differs (ip_vs_xmit.c `ip_vs_dr_xmit` sends
/// the packet unchanged to the real server's neighbour entry). Give the real servers' MACs for Ethernet captures, or
/// the interface indexes of the links towards them for Linux cooked v2 captures (`any` with SLL2).
public struct RouteTopology: Hashable, Sendable {
    /// A real server's MAC (low 48 bits, as `DecodedPacket.destinationMAC`) → its address.
    public var macs: [UInt64: IPAddress]
    /// An interface index (SLL2) whose frames to a VIP are the director's copies for a real server → its address.
    public var interfaces: [UInt32: IPAddress]

    public init(macs: [UInt64: IPAddress] = [:], interfaces: [UInt32: IPAddress] = [:]) {
        self.macs = macs
        self.interfaces = interfaces
    }
}

/// How long a tuple stays one connection without packets: after that its next packet starts a new one (UDP) or
/// belongs to nothing (TCP, SCTP without an opening). Defaults: IPVS's established timeouts (TCP 900 s, SCTP
/// 900 s — ip_vs_proto_tcp.c, ip_vs_proto_sctp.c) and its UDP timeout (300 s, ip_vs_proto_udp.c).
public struct FlowTimeouts: Hashable, Sendable {
    public var tcpSeconds: UInt64 = 900
    public var udpSeconds: UInt64 = 300
    public var sctpSeconds: UInt64 = 900

    public init(tcpSeconds: UInt64 = 900, udpSeconds: UInt64 = 300, sctpSeconds: UInt64 = 900) {
        self.tcpSeconds = tcpSeconds
        self.udpSeconds = udpSeconds
        self.sctpSeconds = sctpSeconds
    }

    func nanoseconds(_ p: IPProtocol) -> UInt64 {
        switch p {
        case .tcp: return tcpSeconds * 1_000_000_000
        case .udp: return udpSeconds * 1_000_000_000
        case .sctp: return sctpSeconds * 1_000_000_000
        }
    }
}

/// Packets the tracker saw, by what they were.
public struct FlowTrackerStatistics: Hashable, Sendable {
    /// Client → VIP packets (before forwarding), openings included.
    public var clientPackets: UInt64 = 0
    /// The director's forwarded copies: NAT-rewritten, direct-routed or tunnelled towards a real server.
    public var forwardedPackets: UInt64 = 0
    /// Packets from a VIP or a masqueraded real server back to a client.
    public var replyPackets: UInt64 = 0
    /// Packets that involve no watched service.
    public var unrelatedPackets: UInt64 = 0
    public var newConnections: UInt64 = 0
    /// A TCP SYN or SCTP INIT repeated on a live connection (a retransmission, not a new connection).
    public var repeatedOpenings: UInt64 = 0
    /// Client packets of no known connection that do not open one (the capture started mid-connection).
    public var midstreamPackets: UInt64 = 0
    /// Forwarded copies of no known connection, or to a real server not of the connection's service.
    public var unmatchedForwarded: UInt64 = 0
    /// Forwarded copies of one connection that went to a second real server (the first one is kept).
    public var realServerConflicts: UInt64 = 0

    public init() {}
}

/// What one packet meant to the tracker, for a caller that feeds a `Verifier` in capture order.
public enum FlowEvent: Hashable, Sendable {
    /// Nothing to pass on: a packet of no watched service, a midstream packet, or a reply copy already reported.
    case none
    /// A new connection, `connections[index]` (its real server may be filled in by later packets).
    case opened(Int)
    /// A packet of connection `index` the director's state machine sees: `.input` client → VIP, `.output` a reply
    /// through the director (NAT). `event`: the TCP flags byte, the first SCTP chunk's type, 0 for UDP.
    case packet(Int, PacketDirection, event: UInt8)
    /// The director's forwarded copy of a packet of connection `index`.
    case forwarded(Int)
}

/// Turns decoded packets into `ObservedConnection`s, in capture order: each client → VIP connection and the real
/// server it was forwarded to.
///
/// - New connection: a TCP SYN without ACK, an SCTP INIT, the first UDP datagram of a tuple not seen within its
///   timeout. A SYN/INIT on a live tuple is a retransmission unless the tuple saw a FIN or RST (SCTP: ABORT or
///   SHUTDOWN COMPLETE) or timed out: the kernel reschedules such a tuple only from TIME_WAIT or CLOSE (ip_vs_core.c
///   `is_new_conn_expected`), which FIN and RST lead to.
/// - Masq (NAT): the director rewrites the destination to the real server (ip_vs_xmit.c `ip_vs_nat_xmit`); the
///   copy is matched by protocol, client address and port, its destination being a masqueraded real server of the
///   connection's service.
/// - Route (direct routing): same IP header; the copy is recognised by its link layer (`RouteTopology`).
/// - Tunnel: the outer destination is a tunnel real server, the inner packet the client's (IP-in-IP, GRE, GUE).
///
/// Firewall-mark services are not followed (the mark is not on the wire): their connections are not recognised.
/// Memory grows with the tuples seen; nothing is forgotten (fine for captures of minutes, not for days).
public struct FlowTracker: Sendable {
    public private(set) var connections: [ObservedConnection] = []
    public private(set) var statistics = FlowTrackerStatistics()
    /// The watched services; `watch` adds to them while a live capture runs.
    public private(set) var services: [WatchedService]
    public let routes: RouteTopology
    public let timeouts: FlowTimeouts

    struct Endpoint: Hashable {
        var address: PacketAddress
        var port: UInt16
        var transport: UInt8
        var family: UInt8
    }

    struct HostKey: Hashable {
        var address: PacketAddress
        var family: UInt8
    }

    /// A connection's client side. Hashed as one mixed word: Swift's `Hasher` (SipHash-1-3) then costs one
    /// 8-byte block instead of 42 bytes. Distinct keys whose mixes collide share a bucket chain, nothing worse.
    struct FlowKey: Hashable {
        var client: PacketAddress
        var virtual: PacketAddress
        var clientPort: UInt16
        var virtualPort: UInt16
        var transport: UInt8
        var family: UInt8

        func hash(into hasher: inout Hasher) {
            var x = (client.low ^ client.high &* 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
            x ^= (virtual.low ^ virtual.high &* 0xC2B2_AE3D_27D4_EB4F) &* 0x94D0_49BB_1331_11EB
            x ^= UInt64(clientPort) << 48 | UInt64(virtualPort) << 32 | UInt64(transport) << 8 | UInt64(family)
            hasher.combine(x)
        }
    }

    /// What NAT leaves of a connection's client side on the real server's side: protocol, client address and port.
    struct ClientKey: Hashable {
        var client: PacketAddress
        var clientPort: UInt16
        var transport: UInt8
        var family: UInt8

        func hash(into hasher: inout Hasher) {
            var x = (client.low ^ client.high &* 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
            x ^= UInt64(clientPort) << 48 | UInt64(transport) << 8 | UInt64(family)
            hasher.combine(x)
        }
    }

    /// A real server of a watched service: indexes into `services` and its `realServers`.
    struct ServerRef: Hashable {
        var service: Int32
        var server: Int32
    }

    /// Per connection (parallel to `connections`): what the tracker needs on every packet.
    struct FlowState {
        var service: Int32
        /// The real server the first forwarded copy went to, or -1.
        var server: Int32 = -1
        /// That server's forwarding method (`ForwardingMethod.rawValue`), or `UInt8.max` before any copy.
        var forwarding = UInt8.max
        var lastSeen: UInt64
        var closing = false
        /// A forwarded NAT copy was seen: the capture sees the real servers' side, so replies are reported from
        /// there (before the director rewrites them), not a second time on the client's side.
        var seesServerSide = false
    }

    /// A VIP or a NAT real server's endpoint, and what it leads to. Watched tables are small: a linear scan of a
    /// few of these costs less than hashing the packet's endpoint.
    struct EndpointEntry {
        var endpoint: Endpoint
        /// The service of a VIP; for a NAT real server, an index into `masqueradeRefs`.
        var target: Int32
    }

    var virtualEntries: [EndpointEntry] = []
    var masqueradeEntries: [EndpointEntry] = []
    var masqueradeRefs: [[ServerRef]] = []
    var tunnelServers: [HostKey: [ServerRef]] = [:]
    var routeServers: [HostKey: [ServerRef]] = [:]
    /// The connection of each live client side, and of each client address and port (for NAT copies).
    var flows: [FlowKey: Int32] = [:]
    var clients: [ClientKey: Int32] = [:]
    var states: [FlowState] = []

    public init(services: [WatchedService], routes: RouteTopology = RouteTopology(),
                timeouts: FlowTimeouts = FlowTimeouts()) {
        self.services = services
        self.routes = routes
        self.timeouts = timeouts
        for i in services.indices { register(service: i) }
    }

    /// Starts following a service added to the table while the capture runs (a live `ipvsctl verify` re-reading the
    /// kernel's table). A service already watched is left as it is.
    public mutating func watch(_ service: WatchedService) {
        guard !services.contains(where: { $0.service.key == service.service.key }) else { return }
        services.append(service)
        register(service: services.count - 1)
    }

    /// Starts following `realServer` of the watched service `key` (a destination added while the capture runs):
    /// forwarded copies to it pair with their connections from now on, instead of counting as unmatched. Returns
    /// false when `key` is not watched; a real server already watched (same address and port) is left as it is.
    @discardableResult
    public mutating func watch(_ realServer: RealServer, of key: ServiceKey) -> Bool {
        guard let i = services.firstIndex(where: { $0.service.key == key }) else { return false }
        guard !services[i].realServers.contains(where: { $0.key == realServer.key }) else { return true }
        services[i].realServers.append(realServer)
        if case .address(let p, _, _) = key {
            register(realServer, as: ServerRef(service: Int32(i), server: Int32(services[i].realServers.count - 1)),
                     transport: UInt8(p.rawValue))
        }
        return true
    }

    /// Enters service `i` of `services` and its real servers in the lookup tables. Firewall-mark services are not
    /// followed (no address on the wire to match).
    private mutating func register(service i: Int) {
        let watched = services[i]
        guard case .address(let p, let vip, let port) = watched.service.key else { return }
        let transport = UInt8(p.rawValue)
        let endpoint = Endpoint(address: PacketAddress(vip), port: port, transport: transport,
                                family: UInt8(vip.family.rawValue))
        if !virtualEntries.contains(where: { $0.endpoint == endpoint }) {
            virtualEntries.append(EndpointEntry(endpoint: endpoint, target: Int32(i)))
        }
        for (j, rs) in watched.realServers.enumerated() {
            register(rs, as: ServerRef(service: Int32(i), server: Int32(j)), transport: transport)
        }
    }

    private mutating func register(_ rs: RealServer, as ref: ServerRef, transport: UInt8) {
        let host = HostKey(address: PacketAddress(rs.address), family: UInt8(rs.address.family.rawValue))
        switch rs.forwarding {
        case .masquerade:
            let e = Endpoint(address: host.address, port: rs.port, transport: transport, family: host.family)
            if let entry = masqueradeEntries.first(where: { $0.endpoint == e }) {
                masqueradeRefs[Int(entry.target)].append(ref)
            } else {
                masqueradeEntries.append(EndpointEntry(endpoint: e, target: Int32(masqueradeRefs.count)))
                masqueradeRefs.append([ref])
            }
        case .tunnel: tunnelServers[host, default: []].append(ref)
        case .route: routeServers[host, default: []].append(ref)
        case .local: break
        }
    }

    /// The UDP ports the decoder must open as GUE for this tracker's tunnel real servers.
    public var guePorts: [UInt16] {
        var ports: [UInt16] = []
        for s in services {
            for rs in s.realServers where rs.forwarding == .tunnel && rs.tunnelType == .gue && rs.tunnelPort != 0 {
                if !ports.contains(rs.tunnelPort) { ports.append(rs.tunnelPort) }
            }
        }
        return ports
    }

    /// The client side of connection `index`, as the verifier names flows.
    public func flow(of index: Int) -> Flow {
        let c = connections[index]
        return Flow(c.transport, from: c.client, port: c.clientPort, to: c.virtualAddress, port: c.virtualPort)
    }

    /// Takes one decoded packet (a `.decoded` disposition) seen at `time`.
    public mutating func track(_ p: borrowing DecodedPacket, at time: CaptureTime) -> FlowEvent {
        let transport = UInt8(truncatingIfNeeded: p.transport.rawValue)
        let family = UInt8(truncatingIfNeeded: p.ip.family.rawValue)
        if p.tunnel != .none {
            let outer = HostKey(address: p.outer.destination, family: UInt8(truncatingIfNeeded: p.outer.family.rawValue))
            guard let refs = tunnelServers[outer] else {
                statistics.unrelatedPackets += 1
                return .none
            }
            return forwarded(flows[flowKey(p, transport, family)], refs: refs, packetPort: p.destinationPort)
        }
        let destination = Endpoint(address: p.ip.destination, port: p.destinationPort, transport: transport,
                                   family: family)
        let service = Self.find(destination, in: virtualEntries)
        if service >= 0 {
            if !routeServers.isEmpty, let refs = routeTarget(p) {
                return forwarded(flows[flowKey(p, transport, family)], refs: refs, packetPort: p.destinationPort)
            }
            return clientPacket(p, service: service, key: flowKey(p, transport, family), time: time.nanoseconds)
        }
        let masqueradeTarget = Self.find(destination, in: masqueradeEntries)
        if masqueradeTarget >= 0 {
            let client = ClientKey(client: p.ip.source, clientPort: p.sourcePort, transport: transport, family: family)
            return forwarded(clients[client], refs: masqueradeRefs[Int(masqueradeTarget)], packetPort: p.destinationPort,
                             masquerade: true)
        }
        let source = Endpoint(address: p.ip.source, port: p.sourcePort, transport: transport, family: family)
        if Self.find(source, in: virtualEntries) >= 0 {
            let key = FlowKey(client: p.ip.destination, virtual: p.ip.source, clientPort: p.destinationPort,
                              virtualPort: p.sourcePort, transport: transport, family: family)
            return reply(p, connection: flows[key], fromServerSide: false)
        }
        if Self.find(source, in: masqueradeEntries) >= 0 {
            let client = ClientKey(client: p.ip.destination, clientPort: p.destinationPort, transport: transport,
                                   family: family)
            return reply(p, connection: clients[client], fromServerSide: true)
        }
        statistics.unrelatedPackets += 1
        return .none
    }

    // MARK: - Steps

    @inline(__always)
    func flowKey(_ p: borrowing DecodedPacket, _ transport: UInt8, _ family: UInt8) -> FlowKey {
        FlowKey(client: p.ip.source, virtual: p.ip.destination, clientPort: p.sourcePort,
                virtualPort: p.destinationPort, transport: transport, family: family)
    }

    /// The target of the entry for endpoint `e`, or -1. An entry with port 0 (a port-zero service, or a NAT real
    /// server of one) takes any port, but one with the exact port wins (ip_vs_ctl.c `ip_vs_service_find` looks for
    /// the port first, then for port 0).
    @inline(__always)
    static func find(_ e: Endpoint, in entries: [EndpointEntry]) -> Int32 {
        var anyPort: Int32 = -1
        for entry in entries {
            let x = entry.endpoint
            guard x.address == e.address, x.transport == e.transport, x.family == e.family else { continue }
            if x.port == e.port { return entry.target }
            if x.port == 0 { anyPort = entry.target }
        }
        return anyPort
    }

    func routeTarget(_ p: borrowing DecodedPacket) -> [ServerRef]? {
        let address: IPAddress?
        switch p.linkType {
        case .ethernet: address = routes.macs[p.destinationMAC]
        case .linuxSLL2: address = routes.interfaces[p.interfaceIndex]
        default: address = nil
        }
        guard let address else { return nil }
        return routeServers[HostKey(address: PacketAddress(address), family: UInt8(address.family.rawValue))]
    }

    @inline(__always)
    static func openingAndClosing(_ p: borrowing DecodedPacket) -> (opening: Bool, closing: Bool, event: UInt8) {
        switch p.transport {
        case .tcp:
            let f = p.tcpFlags
            return (f.contains(.syn) && !f.contains(.ack), f.contains(.fin) || f.contains(.rst), f.rawValue)
        case .sctp:
            let c = p.sctpFirstChunk
            return (c == SCTPChunkType.initiation, c == SCTPChunkType.abort || c == SCTPChunkType.shutdownComplete, c)
        case .udp:
            return (true, false, 0)
        }
    }

    mutating func clientPacket(_ p: borrowing DecodedPacket, service: Int32, key: FlowKey,
                               time: UInt64) -> FlowEvent {
        statistics.clientPackets += 1
        let (opening, closing, event) = Self.openingAndClosing(p)
        let timeout = timeouts.nanoseconds(p.transport)
        if let found = flows[key] {
            let c = Int(found)
            let state = states[c]
            let expired = time &- state.lastSeen > timeout
            let reopens = p.transport == .udp ? expired : opening && (state.closing || expired)
            if !reopens {
                if expired {
                    statistics.midstreamPackets += 1
                    return .none
                }
                if opening { statistics.repeatedOpenings += 1 }
                connections[c].packets &+= 1
                connections[c].bytes &+= UInt64(p.ip.totalLength)
                states[c].lastSeen = time
                if closing { states[c].closing = true }
                return .packet(c, .input, event: event)
            }
        } else if !opening {
            statistics.midstreamPackets += 1
            return .none
        }
        let index = connections.count
        connections.append(ObservedConnection(
            firstSeen: CaptureTime(nanoseconds: time), transport: p.transport,
            client: p.ip.source.ipAddress(p.ip.family), clientPort: p.sourcePort,
            virtualAddress: p.ip.destination.ipAddress(p.ip.family), virtualPort: p.destinationPort,
            packets: 1, bytes: UInt64(p.ip.totalLength)))
        states.append(FlowState(service: service, lastSeen: time, closing: closing))
        flows[key] = Int32(index)
        clients[ClientKey(client: key.client, clientPort: key.clientPort, transport: key.transport,
                          family: key.family)] = Int32(index)
        statistics.newConnections += 1
        return .opened(index)
    }

    mutating func forwarded(_ connection: Int32?, refs: [ServerRef], packetPort: UInt16,
                            masquerade: Bool = false) -> FlowEvent {
        statistics.forwardedPackets += 1
        guard let connection else {
            statistics.unmatchedForwarded += 1
            return .none
        }
        let c = Int(connection)
        let state = states[c]
        guard let ref = refs.first(where: { $0.service == state.service }) else {
            statistics.unmatchedForwarded += 1
            return .none
        }
        if masquerade && !state.seesServerSide { states[c].seesServerSide = true }
        if state.server == ref.server { return .forwarded(c) }
        if state.server >= 0 {
            statistics.realServerConflicts += 1
            return .forwarded(c)
        }
        let rs = services[Int(ref.service)].realServers[Int(ref.server)]
        states[c].server = ref.server
        states[c].forwarding = UInt8(rs.forwarding.rawValue)
        connections[c].realServer = rs.address
        // Only NAT rewrites the port; direct routing and tunnels keep the VIP's (ipvsadm sets such a destination's
        // port to the service's). A port-zero real server takes the packet's.
        connections[c].realPort = masquerade ? (rs.port == 0 ? packetPort : rs.port) : rs.port
        connections[c].forwarding = rs.forwarding
        return .forwarded(c)
    }

    mutating func reply(_ p: borrowing DecodedPacket, connection: Int32?, fromServerSide: Bool) -> FlowEvent {
        statistics.replyPackets += 1
        guard let connection else { return .none }
        let c = Int(connection)
        let (_, closing, event) = Self.openingAndClosing(p)
        if closing { states[c].closing = true }
        // Report each reply once, as the director's state machine sees it: only NAT replies pass through the
        // director (direct routing and tunnels answer the client directly: IP_VS_CONN_F_NOOUTPUT).
        let state = states[c]
        if state.forwarding != UInt8.max && state.forwarding != UInt8(ForwardingMethod.masquerade.rawValue) {
            return .none
        }
        if fromServerSide != state.seesServerSide { return .none }
        return .packet(c, .output, event: event)
    }
}
