/// A capture's link-layer header type, as libpcap's API numbers it (`DLT_*`, what `pcap_datalink` returns).
///
/// Pcap files store `LINKTYPE_*` values, which equal the `DLT_*` ones for every type here except raw IP
/// (`LINKTYPE_RAW` 101 in a file, `DLT_RAW` 12 on Linux); `fileValue` and `init(fileValue:)` convert.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `DLT_EN10MB`: Ethernet II (with 802.1Q/802.1ad tags when present). Linux loopback captures are Ethernet too.
    public static let ethernet = LinkType(rawValue: 1)
    /// `DLT_RAW` (Linux value): the packet starts with an IPv4 or IPv6 header (tun devices, some tunnels).
    public static let raw = LinkType(rawValue: 12)
    /// `DLT_LINUX_SLL`: Linux cooked capture v1, what capturing on `any` gives by default.
    public static let linuxSLL = LinkType(rawValue: 113)
    /// `DLT_IPV4`: raw IPv4.
    public static let ipv4 = LinkType(rawValue: 228)
    /// `DLT_IPV6`: raw IPv6.
    public static let ipv6 = LinkType(rawValue: 229)
    /// `DLT_LINUX_SLL2`: Linux cooked capture v2, which adds the interface index (libpcap ≥ 1.10 on `any`).
    public static let linuxSLL2 = LinkType(rawValue: 276)

    /// The value a pcap file header stores for this type (`LINKTYPE_*`).
    public var fileValue: UInt32 { self == .raw ? 101 : UInt32(bitPattern: rawValue) }

    /// The type a pcap file's `LINKTYPE_*` value stands for.
    public init(fileValue: UInt32) {
        self = fileValue == 101 ? .raw : LinkType(rawValue: Int32(bitPattern: fileValue))
    }

    public var description: String {
        switch self {
        case .ethernet: return "EN10MB"
        case .raw: return "RAW"
        case .linuxSLL: return "LINUX_SLL"
        case .linuxSLL2: return "LINUX_SLL2"
        case .ipv4: return "IPV4"
        case .ipv6: return "IPV6"
        default: return "DLT \(rawValue)"
        }
    }

    /// Whether `PacketDecoder` decodes frames of this type.
    public var isSupported: Bool {
        switch self {
        case .ethernet, .raw, .linuxSLL, .linuxSLL2, .ipv4, .ipv6: return true
        default: return false
        }
    }
}
