/// A virtual service with every field the kernel keeps for one (`struct ip_vs_service_user_kern`).
public struct VirtualService: Hashable, Sendable {
    public var key: ServiceKey
    public var scheduler: SchedulerKind
    public var flags: ServiceFlags
    /// Persistence timeout in seconds (`-p`); meaningful when `flags` has `.persistent`.
    public var persistenceTimeout: UInt32
    /// The kernel's `netmask` field: for IPv4 a netmask applied to the client address of persistence templates,
    /// for IPv6 a prefix length (1…128).
    public var netmask: UInt32
    /// Persistence engine (`--pe`), e.g. "sip"; `nil` for none.
    public var persistenceEngine: String?

    /// The kernel's default persistence timeout (ipvsadm's `-p` without a value): 300 s.
    public static let defaultPersistenceTimeout: UInt32 = 300

    public init(
        _ key: ServiceKey, scheduler: SchedulerKind = .wlc, flags: ServiceFlags = [],
        persistenceTimeout: UInt32 = 0, netmask: UInt32? = nil, persistenceEngine: String? = nil
    ) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags
        self.persistenceTimeout = persistenceTimeout
        self.netmask = netmask ?? (key.family == .inet ? UInt32.max : 128)
        self.persistenceEngine = persistenceEngine
    }

    /// A service with ClientIP session affinity as Kubernetes sets it up: persistent, with `timeoutSeconds`
    /// (default 10800, at most 86400) and a full-length mask.
    public static func clientIPAffinity(
        _ key: ServiceKey, scheduler: SchedulerKind = .rr, timeoutSeconds: UInt32 = 10800
    ) -> VirtualService {
        VirtualService(key, scheduler: scheduler, flags: .persistent, persistenceTimeout: timeoutSeconds)
    }

    public var isPersistent: Bool { flags.contains(.persistent) }

    /// The prefix length the persistence mask keeps of a client address.
    public var persistencePrefixLength: Int {
        key.family == .inet ? IPv4Address(netmask).prefixLengthIfMask ?? 32 : Int(netmask)
    }

    /// The client address as a persistence template key holds it: masked by `netmask`.
    /// (ip_vs_core.c `ip_vs_sched_persist`: `ipv6_addr_prefix(&snet.in6, &iph->saddr.in6, svc->netmask)`, or
    /// `snet.ip = src_addr->ip & svc->netmask` for IPv4; the IPv4 mask may be non-contiguous.)
    @inlinable
    public func persistenceNetwork(of client: IPAddress) -> IPAddress {
        switch client {
        case .v4(let a): return .v4(IPv4Address(a.value & netmask))
        case .v6: return client.masked(prefixLength: Int(min(netmask, 128)))
        }
    }
}
