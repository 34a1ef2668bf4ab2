/// What the decoder made of one captured frame: decoded, ignored (well-formed, but nothing the tap follows), or
/// malformed (a header is cut short or invalid). Ignored and malformed frames are counted by reason and skipped.
public enum PacketDisposition: UInt8, CaseIterable, Sendable, CustomStringConvertible {
    /// Decoded down to a TCP, UDP or SCTP header.
    case decoded

    // Ignored: valid, but not traffic the tap follows.
    /// The capture's link type is not one the decoder knows.
    case unsupportedLinkType
    /// Not IPv4 or IPv6 (ARP, LLDP, an 802.3 length field, …).
    case notIP
    /// An IP protocol other than TCP, UDP, SCTP or a tunnel the decoder opens (ICMP, ESP, …), or IPv6 "no next
    /// header".
    case unsupportedTransport
    /// An IPv4 or IPv6 fragment other than the first: it has no transport header, so no ports. (The first fragment
    /// is decoded with its ports and flagged `isFragment`.)
    case nonFirstFragment
    /// GRE carrying something other than IPv4/IPv6, GUE control messages, GUE/GRE versions not defined.
    case unsupportedTunnel
    /// A tunnel inside a tunnel: the decoder opens one level of encapsulation (IPVS tunnel forwarding adds one).
    case tunnelTooDeep

    // Malformed: a header cut short by the capture or invalid.
    case truncatedLinkHeader
    case truncatedVLANTag
    /// More than four stacked 802.1Q/802.1ad tags.
    case tooManyVLANTags
    /// Fewer than 20 bytes, or fewer than the header length field says.
    case truncatedIPv4Header
    /// A version other than 4 where IPv4 was announced (or an unknown version on a raw IP link).
    case badIPVersion
    /// IHL below 5 (20 bytes).
    case badIPv4HeaderLength
    /// Total length below the header length.
    case badIPv4TotalLength
    case truncatedIPv6Header
    case truncatedIPv6ExtensionHeader
    /// More than eight IPv6 extension headers in a row.
    case tooManyIPv6ExtensionHeaders
    /// Fewer than the 20 bytes that hold the ports and flags.
    case truncatedTCPHeader
    /// Data offset below 5 (20 bytes).
    case badTCPDataOffset
    case truncatedUDPHeader
    /// Fewer than the 12-byte common header plus the first chunk's 4-byte header.
    case truncatedSCTPHeader
    case truncatedGREHeader
    case truncatedGUEHeader

    /// True for the reasons that mean a damaged or cut-short frame (rather than traffic of no interest).
    public var isMalformed: Bool { rawValue >= PacketDisposition.truncatedLinkHeader.rawValue }

    public var description: String {
        switch self {
        case .decoded: return "decoded"
        case .unsupportedLinkType: return "unsupported link type"
        case .notIP: return "not IP"
        case .unsupportedTransport: return "unsupported transport protocol"
        case .nonFirstFragment: return "non-first fragment"
        case .unsupportedTunnel: return "unsupported tunnel payload"
        case .tunnelTooDeep: return "tunnel inside a tunnel"
        case .truncatedLinkHeader: return "truncated link-layer header"
        case .truncatedVLANTag: return "truncated VLAN tag"
        case .tooManyVLANTags: return "more than 4 VLAN tags"
        case .truncatedIPv4Header: return "truncated IPv4 header"
        case .badIPVersion: return "bad IP version"
        case .badIPv4HeaderLength: return "IPv4 header length below 20"
        case .badIPv4TotalLength: return "IPv4 total length below the header length"
        case .truncatedIPv6Header: return "truncated IPv6 header"
        case .truncatedIPv6ExtensionHeader: return "truncated IPv6 extension header"
        case .tooManyIPv6ExtensionHeaders: return "more than 8 IPv6 extension headers"
        case .truncatedTCPHeader: return "truncated TCP header"
        case .badTCPDataOffset: return "TCP data offset below 5"
        case .truncatedUDPHeader: return "truncated UDP header"
        case .truncatedSCTPHeader: return "truncated SCTP header"
        case .truncatedGREHeader: return "truncated GRE header"
        case .truncatedGUEHeader: return "truncated GUE header"
        }
    }
}

/// Frames counted by disposition. One array, allocated once; counting never allocates.
public struct DecodeStatistics: Sendable, Equatable {
    private var counts: [UInt64]

    public init() { counts = Array(repeating: 0, count: PacketDisposition.allCases.count) }

    @inlinable
    public subscript(_ disposition: PacketDisposition) -> UInt64 { count(disposition) }

    @usableFromInline
    func count(_ disposition: PacketDisposition) -> UInt64 { counts[Int(disposition.rawValue)] }

    @usableFromInline
    mutating func add(_ disposition: PacketDisposition) { counts[Int(disposition.rawValue)] &+= 1 }

    /// All frames seen.
    public var total: UInt64 { counts.reduce(0, &+) }
    /// Frames skipped as malformed, all reasons together.
    public var malformed: UInt64 {
        PacketDisposition.allCases.filter(\.isMalformed).reduce(0) { $0 &+ counts[Int($1.rawValue)] }
    }
    /// The non-zero counts, in declaration order.
    public var nonZero: [(PacketDisposition, UInt64)] {
        PacketDisposition.allCases.compactMap { d in counts[Int(d.rawValue)] == 0 ? nil : (d, counts[Int(d.rawValue)]) }
    }

    public static func == (a: DecodeStatistics, b: DecodeStatistics) -> Bool { a.counts == b.counts }
}
