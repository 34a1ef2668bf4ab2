/// One packet (or flow event) as a proxy daemon hands it to `Balancer.process`.
///
/// The connection is always named by its client side: protocol, client address and port, and the virtual address
/// and port the client sent to (plus the firewall mark the packet carries, 0 for none). A reply from the real
/// server is given with the same tuple and `direction: .output`.
public struct BalancerPacket: Hashable, Sendable {
    public var ipProtocol: IPProtocol
    public var client: IPAddress
    public var clientPort: UInt16
    public var virtual: IPAddress
    public var virtualPort: UInt16
    /// The packet's firewall mark (`skb->mark`), 0 for none: it selects a firewall-mark service.
    public var firewallMark: UInt32
    public var direction: PacketDirection
    /// TCP: the header's flags byte (`TCPFlags.rawValue`). SCTP: the first chunk's type. UDP: ignored.
    public var event: UInt8
    /// The packet's length in bytes (`skb->len`), for the byte counters.
    public var length: Int

    @inlinable
    public init(_ ipProtocol: IPProtocol, client: IPAddress, clientPort: UInt16, virtual: IPAddress,
                virtualPort: UInt16, firewallMark: UInt32 = 0, direction: PacketDirection = .input,
                event: UInt8 = 0, length: Int = 0) {
        self.ipProtocol = ipProtocol
        self.client = client
        self.clientPort = clientPort
        self.virtual = virtual
        self.virtualPort = virtualPort
        self.firewallMark = firewallMark
        self.direction = direction
        self.event = event
        self.length = length
    }

    /// A TCP packet with `flags`.
    @inlinable
    public static func tcp(_ client: IPAddress, _ clientPort: UInt16, to virtual: IPAddress, _ virtualPort: UInt16,
                           flags: TCPFlags, direction: PacketDirection = .input, length: Int = 0,
                           firewallMark: UInt32 = 0) -> BalancerPacket {
        BalancerPacket(.tcp, client: client, clientPort: clientPort, virtual: virtual, virtualPort: virtualPort,
                       firewallMark: firewallMark, direction: direction, event: flags.rawValue, length: length)
    }

    /// A UDP datagram.
    @inlinable
    public static func udp(_ client: IPAddress, _ clientPort: UInt16, to virtual: IPAddress, _ virtualPort: UInt16,
                           direction: PacketDirection = .input, length: Int = 0,
                           firewallMark: UInt32 = 0) -> BalancerPacket {
        BalancerPacket(.udp, client: client, clientPort: clientPort, virtual: virtual, virtualPort: virtualPort,
                       firewallMark: firewallMark, direction: direction, length: length)
    }

    /// The connection key of this packet with firewall mark `mark`; nil when the two addresses' families differ.
    @inlinable
    func key(mark: UInt32) -> ConnectionKey? {
        ConnectionKey(ipProtocol, client: client, clientPort: clientPort, virtual: virtual,
                      virtualPort: virtualPort, firewallMark: mark)
    }
}

/// Where a connection goes, as `Balancer.process` decided or found it.
public struct BalancerDecision: Hashable, Sendable {
    /// The real server.
    public var destination: DestinationKey
    public var forwarding: ForwardingMethod
    /// The destination's slot in the balancer (stable while the connection lives).
    public var destinationID: Int
    /// The service's slot in the balancer.
    public var serviceID: Int
    /// The connection's protocol state after this packet (a `TCPState` or `SCTPState` raw value; 0 for UDP).
    public var state: UInt8
    /// Whether the connection counts in its destination's active connections.
    public var isActive: Bool

    @inlinable
    init(destination: DestinationKey, forwarding: ForwardingMethod, destinationID: Int, serviceID: Int, state: UInt8,
         isActive: Bool) {
        self.destination = destination
        self.forwarding = forwarding
        self.destinationID = destinationID
        self.serviceID = serviceID
        self.state = state
        self.isActive = isActive
    }
}

/// What `Balancer.process` did with a packet.
public enum BalancerResult: Hashable, Sendable {
    /// The packet belongs to a connection that exists: it goes where that connection goes.
    case existing(BalancerDecision)
    /// The packet opened a new connection, scheduled (or pinned by a persistence template) to a destination.
    case created(BalancerDecision)
    /// No virtual service matches: the kernel lets such a packet through untouched.
    case noService
    /// A service matched, but no connection was made: a TCP packet without SYN or with RST, an SCTP packet
    /// without INIT (the kernel schedules only those: ip_vs_proto_tcp.c `tcp_conn_schedule`, ip_vs_proto_sctp.c
    /// `sctp_conn_schedule`), a packet from port 20 (FTP data) or to another port of a non-persistent service
    /// (ip_vs_core.c `ip_vs_schedule`), or the scheduler found no available destination.
    case notScheduled
    /// The connection table had no free slot for the new connection; nothing was created (beyond a persistence
    /// template, which the kernel would have created too).
    case tableFull

    /// The decision, for `.existing` and `.created`.
    @inlinable
    public var decision: BalancerDecision? {
        switch self {
        case .existing(let d), .created(let d): return d
        default: return nil
        }
    }
}

/// Why the balancer refused a configuration change; nothing was changed.
public enum BalancerError: Error, Hashable, Sendable, CustomStringConvertible {
    case configuration(IPVSConfigurationError)
    case serviceExists(ServiceKey)
    case noSuchService(ServiceKey)
    /// Every service slot is in use (`Balancer.Configuration.maximumServices`).
    case tooManyServices(Int)
    /// Every destination slot is in use or still held by connections of removed destinations
    /// (`Balancer.Configuration.maximumDestinations`).
    case tooManyDestinations(Int)
    case timeout(ProtocolTimeoutError)

    public var description: String {
        switch self {
        case .configuration(let e): return "\(e)"
        case .serviceExists(let k): return "service \(k) already exists"
        case .noSuchService(let k): return "no service \(k)"
        case .tooManyServices(let n): return "all \(n) service slots are in use"
        case .tooManyDestinations(let n):
            return "all \(n) destination slots are in use or held by connections of removed destinations"
        case .timeout(let e): return "\(e)"
        }
    }
}
