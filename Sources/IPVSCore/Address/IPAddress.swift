/// An address family, numbered as Linux numbers them (`AF_INET`, `AF_INET6`).
public enum AddressFamily: UInt16, Hashable, Sendable, CustomStringConvertible {
    case inet = 2
    case inet6 = 10

    public var description: String { self == .inet ? "inet" : "inet6" }
    /// Bits in an address of this family.
    public var bitWidth: Int { self == .inet ? 32 : 128 }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses IPv4 dotted-quad or IPv6 text (without brackets).
    public init?(_ text: some StringProtocol) {
        if let a = IPv4Address(text) {
            self = .v4(a)
        } else if let a = IPv6Address(text) {
            self = .v6(a)
        } else {
            return nil
        }
    }

    public var family: AddressFamily {
        switch self {
        case .v4: return .inet
        case .v6: return .inet6
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): return a.description
        case .v6(let a): return a.description
        }
    }

    /// The 32-bit value the kernel hashes for this address: the IPv4 address itself, or the XOR of the four
    /// 32-bit words of an IPv6 address (the `addr_fold` of ip_vs_dh.c, ip_vs_sh.c, ip_vs_mh.c), in host order.
    @inlinable
    public var folded: UInt32 {
        switch self {
        case .v4(let a): return a.value
        case .v6(let a):
            let w = a.words
            return w.0 ^ w.1 ^ w.2 ^ w.3
        }
    }

    /// The address with all but the first `prefixLength` bits cleared.
    public func masked(prefixLength: Int) -> IPAddress {
        switch self {
        case .v4(let a): return .v4(IPv4Address(a.value & IPv4Address.mask(prefixLength: prefixLength).value))
        case .v6(let a):
            let m = IPv6Address.mask(prefixLength: prefixLength)
            return .v6(IPv6Address(high: a.high & m.high, low: a.low & m.low))
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): return a < b
        case (.v6(let a), .v6(let b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        }
    }
}

/// A transport protocol IPVS balances, numbered as IANA numbers them (`IPPROTO_*`).
public enum IPProtocol: UInt16, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case tcp = 6
    case udp = 17
    case sctp = 132

    /// The name ipvsadm prints: `TCP`, `UDP`, `SCTP`.
    public var description: String {
        switch self {
        case .tcp: return "TCP"
        case .udp: return "UDP"
        case .sctp: return "SCTP"
        }
    }
}
