/// How a director forwards packets to a real server (`IP_VS_CONN_F_FWD_MASK` values).
public enum ForwardingMethod: UInt32, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `-m`: NAT.
    case masquerade = 0
    /// Local node (the kernel picks this for a local address).
    case local = 1
    /// `-i`: IP-in-IP (or GUE/GRE) tunnelling.
    case tunnel = 2
    /// `-g`: direct routing (gatewaying), the ipvsadm default.
    case route = 3

    /// The name ipvsadm prints in listings.
    public var description: String {
        switch self {
        case .masquerade: return "Masq"
        case .local: return "Local"
        case .tunnel: return "Tunnel"
        case .route: return "Route"
        }
    }
}

/// Tunnel encapsulation for `.tunnel` forwarding (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
public enum TunnelType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case ipip = 0
    case gue = 1
    case gre = 2

    public var description: String {
        switch self {
        case .ipip: return "ipip"
        case .gue: return "gue"
        case .gre: return "gre"
        }
    }
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
public struct TunnelFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// `--tun-csum`: checksum the outer UDP/GRE header.
    public static let checksum = TunnelFlags(rawValue: 1 << 0)
    /// `--tun-remcsum`: remote checksum offload (GUE only).
    public static let remoteChecksum = TunnelFlags(rawValue: 1 << 1)
}

/// A real server (destination) of a virtual service, with every field the kernel keeps for one
/// (`struct ip_vs_dest_user_kern`).
public struct RealServer: Hashable, Sendable {
    public var address: IPAddress
    public var port: UInt16
    public var forwarding: ForwardingMethod
    /// 0 quiesces the server: it keeps its connections and gets no new ones. ipvsadm accepts 0…65535.
    public var weight: Int32
    /// Upper connection threshold (`-x`); 0 means none. At or above it the server is overloaded.
    public var upperThreshold: UInt32
    /// Lower connection threshold (`-y`); 0 means none.
    public var lowerThreshold: UInt32
    public var tunnelType: TunnelType
    /// UDP port of the GUE tunnel; 0 for none.
    public var tunnelPort: UInt16
    public var tunnelFlags: TunnelFlags

    public init(
        _ address: IPAddress, port: UInt16, forwarding: ForwardingMethod = .route, weight: Int32 = 1,
        upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0,
        tunnelType: TunnelType = .ipip, tunnelPort: UInt16 = 0, tunnelFlags: TunnelFlags = []
    ) {
        self.address = address
        self.port = port
        self.forwarding = forwarding
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.tunnelType = tunnelType
        self.tunnelPort = tunnelPort
        self.tunnelFlags = tunnelFlags
    }

    /// The identity the kernel finds a destination by within its service (address family, address, port).
    public var key: DestinationKey { DestinationKey(address: address, port: port) }
}

/// A destination's identity within one service. The kernel looks destinations up by these, and takes a deleted
/// destination back from its trash list by them (ip_vs_ctl.c `ip_vs_lookup_dest`, `ip_vs_trash_get_dest`).
public struct DestinationKey: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        if case .v6(let a) = address { return "[\(a)]:\(port)" }
        return "\(address):\(port)"
    }
}
