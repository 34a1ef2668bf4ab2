import IPVSCore

/// An IPv4 or IPv6 address as two big-endian 64-bit halves read straight from a packet: IPv4 in the low 32 bits of
/// `low`, `high` zero. Cheap to compare and hash; the family lives beside it (`IPHeaderSummary.family`).
public struct PacketAddress: Hashable, Sendable {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(_ address: IPAddress) {
        switch address {
        case .v4(let a): self.init(high: 0, low: UInt64(a.value))
        case .v6(let a): self.init(high: a.high, low: a.low)
        }
    }

    /// The IPVSCore address, for a given family.
    public func ipAddress(_ family: AddressFamily) -> IPAddress {
        family == .inet ? .v4(IPv4Address(UInt32(truncatingIfNeeded: low))) : .v6(IPv6Address(high: high, low: low))
    }
}

/// The fields of one IP header (and, for IPv6, its extension headers) that the tap uses.
public struct IPHeaderSummary: Sendable, Equatable {
    public var family: AddressFamily = .inet
    public var source = PacketAddress(high: 0, low: 0)
    public var destination = PacketAddress(high: 0, low: 0)
    /// The upper-layer protocol: IPv4's protocol field, or the last IPv6 next-header value after the extension
    /// headers.
    public var nextProtocol: UInt8 = 0
    /// The packet's length as the header states it: IPv4 total length; 40 + payload length for IPv6.
    public var totalLength: UInt32 = 0
    /// TTL or hop limit.
    public var hopLimit: UInt8 = 0
    /// A first fragment (more-fragments set, offset 0): it carries the transport header and so the ports.
    public var isFragment = false
    /// The IPv6 extension headers passed over (0 for IPv4).
    public var extensionHeaderCount: UInt8 = 0
    /// Offset of this header from the start of the frame.
    public var offset: Int32 = 0

    public init() {}

    public var sourceAddress: IPAddress { source.ipAddress(family) }
    public var destinationAddress: IPAddress { destination.ipAddress(family) }
}

/// How the (inner) IP packet was encapsulated, when it was.
public enum TunnelEncapsulation: UInt8, Sendable {
    case none
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (IP protocol 4 or 41): IPIP, IPv6-in-IPv6, IPv4-in-IPv6, … — what
    /// IPVS tunnel forwarding sends by default (ip_vs_xmit.c `ip_vs_tunnel_xmit`).
    case ipInIP
    /// GRE (IP protocol 47) carrying IPv4 or IPv6 (`--tun-type gre`).
    case gre
    /// Generic UDP Encapsulation on a configured UDP port (`--tun-type gue --tun-port N`).
    case gue
}

/// SCTP chunk types the tracker looks at (RFC 9260 §3.2).
public enum SCTPChunkType {
    public static let data: UInt8 = 0
    public static let initiation: UInt8 = 1
    public static let initiationAck: UInt8 = 2
    public static let abort: UInt8 = 6
    public static let shutdownComplete: UInt8 = 14
}

/// One decoded frame. Plain stored fields, reused from packet to packet (`PacketDecoder.decode(_:linkType:into:)`
/// overwrites it), so decoding allocates nothing. Fields that a frame does not have keep neutral values: MACs 0,
/// `interfaceIndex` 0, `vlanCount` 0, `tunnel` `.none`.
public struct DecodedPacket: Sendable, Equatable {
    public var linkType: LinkType = .ethernet
    /// Ethernet destination and source MACs in the low 48 bits (first byte most significant). Linux cooked captures
    /// have no destination MAC; their source is `sourceMAC` when the link address is 6 bytes long.
    public var destinationMAC: UInt64 = 0
    public var sourceMAC: UInt64 = 0
    /// Linux cooked capture packet type (`PACKET_HOST` 0, `PACKET_BROADCAST` 1, `PACKET_MULTICAST` 2,
    /// `PACKET_OTHERHOST` 3, `PACKET_OUTGOING` 4); 0 for other link types.
    public var cookedPacketType: UInt8 = 0
    /// The interface index of a Linux cooked v2 capture (SLL2); 0 otherwise.
    public var interfaceIndex: UInt32 = 0
    /// 802.1Q/802.1ad tags passed over, and the VLAN ids of the first two (outermost first).
    public var vlanCount: UInt8 = 0
    public var outerVLAN: UInt16 = 0
    public var innerVLAN: UInt16 = 0

    public var tunnel: TunnelEncapsulation = .none
    /// The outer header of a tunnelled packet (valid when `tunnel != .none`).
    public var outer = IPHeaderSummary()
    /// The IP header of the transport segment: the only one, or the inner one of a tunnelled packet.
    public var ip = IPHeaderSummary()

    /// `.tcp`, `.udp` or `.sctp` when `decoded`.
    public var transport: IPProtocol = .tcp
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    /// The TCP flags byte (IPVSCore `TCPFlags`; bits the state machine ignores, URG/ECE/CWR, are kept too).
    public var tcpFlags = TCPFlags()
    /// The type of the first chunk of an SCTP packet (`SCTPChunkType`).
    public var sctpFirstChunk: UInt8 = 0
    /// Offset of the transport header from the start of the frame.
    public var transportOffset: Int32 = 0

    public init() {}
}
