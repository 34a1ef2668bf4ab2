import IPVSCore

/// When a packet was captured: the pcap record's timestamp, in nanoseconds since the Unix epoch (microsecond
/// captures are scaled up).
public struct CaptureTime: Hashable, Sendable, Comparable {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func < (a: CaptureTime, b: CaptureTime) -> Bool { a.nanoseconds < b.nanoseconds }
}

/// One client connection to a virtual service as the capture saw it: the contract between the flow tracker (which
/// builds these from decoded packets) and the verifier (which replays them through IPVSCore's schedulers).
///
/// A connection is identified by the client's side of the tuple (protocol, client address and port, virtual address
/// and port). `realServer` is the real server the director forwarded it to, as seen on the wire: the rewritten
/// destination for Masq (NAT), the frame's destination on the real server's link for Route (direct routing), the
/// outer destination of the IPIP/IPv6-in-IPv6 packet for Tunnel. It is nil when the capture never saw the connection
/// leave the director.
public struct ObservedConnection: Hashable, Sendable {
    public var firstSeen: CaptureTime
    public var transport: IPProtocol
    public var client: IPAddress
    public var clientPort: UInt16
    public var virtualAddress: IPAddress
    public var virtualPort: UInt16
    /// Set for connections to fwmark services, when the watcher knows the mark the director gave them.
    public var firewallMark: UInt32?
    public var realServer: IPAddress?
    public var realPort: UInt16?
    public var forwarding: ForwardingMethod?
    /// Packets and bytes seen from the client towards the virtual service (IP total length, before forwarding).
    public var packets: UInt64
    public var bytes: UInt64

    public init(firstSeen: CaptureTime, transport: IPProtocol, client: IPAddress, clientPort: UInt16,
                virtualAddress: IPAddress, virtualPort: UInt16, firewallMark: UInt32? = nil,
                realServer: IPAddress? = nil, realPort: UInt16? = nil, forwarding: ForwardingMethod? = nil,
                packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.firstSeen = firstSeen
        self.transport = transport
        self.client = client
        self.clientPort = clientPort
        self.virtualAddress = virtualAddress
        self.virtualPort = virtualPort
        self.firewallMark = firewallMark
        self.realServer = realServer
        self.realPort = realPort
        self.forwarding = forwarding
        self.packets = packets
        self.bytes = bytes
    }
}
