/// What identifies a virtual service: a protocol, address and port, or a firewall mark and an address family.
/// (The kernel's `ip_vs_service` is hashed by exactly these: ip_vs_ctl.c `ip_vs_svc_hashkey`, `ip_vs_svc_fwm_hashkey`.)
public enum ServiceKey: Hashable, Sendable, CustomStringConvertible {
    case address(IPProtocol, IPAddress, port: UInt16)
    case firewallMark(UInt32, AddressFamily)

    public var family: AddressFamily {
        switch self {
        case .address(_, let a, _): return a.family
        case .firewallMark(_, let f): return f
        }
    }

    /// The protocol of an address service; `nil` for a firewall-mark service, which matches any.
    public var ipProtocol: IPProtocol? {
        if case .address(let p, _, _) = self { return p }
        return nil
    }

    public var description: String {
        switch self {
        case .address(let p, .v6(let a), let port): return "\(p) [\(a)]:\(port)"
        case .address(let p, let a, let port): return "\(p) \(a):\(port)"
        case .firewallMark(let m, let f): return f == .inet ? "FWM \(m)" : "FWM \(m) IPv6"
        }
    }
}
