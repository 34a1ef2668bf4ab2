/// Why a service or real server was refused. Each case names the value that was wrong and where; nothing was changed.
/// The rules are the kernel's (ip_vs_ctl.c `ip_vs_add_service`, `ip_vs_add_dest`, `ip_vs_genl_parse_*`) and
/// ipvsadm's (ipvsadm.c `parse_options`, `process_options`), whichever refuses first.
public enum IPVSConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    case weightOutOfRange(DestinationKey, Int32)
    case lowerThresholdAboveUpper(DestinationKey, lower: UInt32, upper: UInt32)
    case thresholdOutOfRange(DestinationKey, UInt32)
    case zeroPortWithoutPersistence(ServiceKey)
    case onePacketNotUDP(ServiceKey)
    case badNetmask(ServiceKey, UInt32)
    case unknownScheduler(String)
    case schedulerFlagsUnsupported(SchedulerKind, ServiceFlags)
    case persistenceTimeoutZero(ServiceKey)
    case persistenceTimeoutOutOfRange(ServiceKey, UInt32)
    case persistenceEngineWithoutPersistence(ServiceKey, String)
    case unknownPersistenceEngine(ServiceKey, String)
    case zeroFirewallMark
    case familyMismatch(ServiceKey, DestinationKey)
    case tunnelOptionsWithoutTunnel(DestinationKey)
    case tunnelPortMissing(DestinationKey)
    case tunnelPortNotForType(DestinationKey, TunnelType)
    case remoteChecksumNotForType(DestinationKey, TunnelType)
    case unspecifiedAddress(String)
    case destinationExists(DestinationKey)
    case noSuchDestination(DestinationKey)
    case duplicateDestination(DestinationKey)
    case serviceKeyChanged(from: ServiceKey, to: ServiceKey)

    public var description: String {
        switch self {
        case .weightOutOfRange(let d, let w):
            return "real server \(d): weight \(w) is out of range (0…65535)"
        case .lowerThresholdAboveUpper(let d, let l, let u):
            return "real server \(d): lower threshold \(l) is above upper threshold \(u)"
        case .thresholdOutOfRange(let d, let t):
            return "real server \(d): threshold \(t) is out of range (0…\(Int32.max))"
        case .zeroPortWithoutPersistence(let s):
            return "service \(s): port 0 is only allowed on a persistent service"
        case .onePacketNotUDP(let s):
            return "service \(s): one-packet scheduling is only for UDP and firewall-mark services"
        case .badNetmask(let s, let m):
            return s.family == .inet
                ? "service \(s): persistence netmask \(IPv4Address(m)) is not a valid netmask"
                : "service \(s): persistence prefix length \(m) is out of range (1…128)"
        case .unknownScheduler(let n):
            return "unknown scheduler '\(n)' (known: \(SchedulerKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .schedulerFlagsUnsupported(let k, let f):
            let names = [(ServiceFlags.schedulerFlag1, "flag-1"), (.schedulerFlag2, "flag-2"), (.schedulerFlag3, "flag-3")]
                .filter { f.contains($0.0) }.map(\.1).joined(separator: ",")
            return "scheduler \(k) has no scheduler flag \(names)"
                + (k.meaningfulFlags.isEmpty ? " (it takes none)" : " (it takes flag-1 and flag-2)")
        case .persistenceTimeoutZero(let s):
            return "service \(s): a persistent service needs a timeout of at least 1 second"
        case .persistenceTimeoutOutOfRange(let s, let t):
            return "service \(s): persistence timeout \(t) is out of range (1…\(Int32.max))"
        case .persistenceEngineWithoutPersistence(let s, let pe):
            return "service \(s): persistence engine '\(pe)' needs a persistent service (-p)"
        case .unknownPersistenceEngine(let s, let pe):
            return "service \(s): unknown persistence engine '\(pe)' (known: sip)"
        case .zeroFirewallMark:
            return "firewall mark 0 is not a valid service mark (1…4294967295)"
        case .familyMismatch(let s, let d):
            return "real server \(d): address family differs from service \(s); only tunnel forwarding may mix families"
        case .tunnelOptionsWithoutTunnel(let d):
            return "real server \(d): tunnel type, port or flags given without tunnel forwarding (-i)"
        case .tunnelPortMissing(let d):
            return "real server \(d): a GUE tunnel needs a tunnel port"
        case .tunnelPortNotForType(let d, let t):
            return "real server \(d): a tunnel port is only for GUE tunnels, not \(t)"
        case .remoteChecksumNotForType(let d, let t):
            return "real server \(d): remote checksum offload is only for GUE tunnels, not \(t)"
        case .unspecifiedAddress(let what):
            return "\(what): the unspecified address cannot be used"
        case .destinationExists(let d):
            return "real server \(d) already exists"
        case .noSuchDestination(let d):
            return "no real server \(d) in this service"
        case .duplicateDestination(let d):
            return "real server \(d) is listed twice"
        case .serviceKeyChanged(let a, let b):
            return "a service edit cannot change its key (\(a) → \(b))"
        }
    }
}

extension SchedulerKind {
    /// Parses a scheduler name; throws `.unknownScheduler` for anything the kernel does not register.
    public static func named(_ name: String) throws(IPVSConfigurationError) -> SchedulerKind {
        guard let k = SchedulerKind(rawValue: name) else { throw .unknownScheduler(name) }
        return k
    }
}

extension VirtualService {
    /// Persistence engines the kernel ships (net/netfilter/ipvs/ip_vs_pe_sip.c registers "sip").
    public static let knownPersistenceEngines: Set<String> = ["sip"]

    /// Checks every rule the kernel or ipvsadm applies to a service.
    public func validate() throws(IPVSConfigurationError) {
        switch key {
        case .firewallMark(let mark, _):
            if mark == 0 { throw .zeroFirewallMark }
        case .address(let p, let a, let port):
            if a.folded == 0, case .v4 = a { throw .unspecifiedAddress("service \(key)") }
            if case .v6(let a6) = a, a6.high == 0 && a6.low == 0 { throw .unspecifiedAddress("service \(key)") }
            if port == 0 && !isPersistent { throw .zeroPortWithoutPersistence(key) }
            if flags.contains(.onePacket) && p != .udp { throw .onePacketNotUDP(key) }
        }
        if key.family == .inet6 {
            if netmask < 1 || netmask > 128 { throw .badNetmask(key, netmask) }
        } else if IPv4Address(netmask).prefixLengthIfMask == nil || netmask == 0 {
            throw .badNetmask(key, netmask)
        }
        let unsupported = flags.intersection(.schedulerFlags).subtracting(scheduler.meaningfulFlags)
        if !unsupported.isEmpty { throw .schedulerFlagsUnsupported(scheduler, unsupported) }
        if isPersistent {
            if persistenceTimeout == 0 { throw .persistenceTimeoutZero(key) }
            if persistenceTimeout > UInt32(Int32.max) { throw .persistenceTimeoutOutOfRange(key, persistenceTimeout) }
        }
        if let pe = persistenceEngine {
            if !isPersistent { throw .persistenceEngineWithoutPersistence(key, pe) }
            if !Self.knownPersistenceEngines.contains(pe) { throw .unknownPersistenceEngine(key, pe) }
        }
    }
}

extension RealServer {
    /// Checks every rule the kernel or ipvsadm applies to a real server of `service`.
    public func validate(for service: VirtualService) throws(IPVSConfigurationError) {
        let k = key
        if weight < 0 || weight > 65535 { throw .weightOutOfRange(k, weight) }
        if upperThreshold > UInt32(Int32.max) { throw .thresholdOutOfRange(k, upperThreshold) }
        if lowerThreshold > UInt32(Int32.max) { throw .thresholdOutOfRange(k, lowerThreshold) }
        // The kernel refuses l > u even when u is 0 (ip_vs_ctl.c ip_vs_add_dest, ip_vs_edit_dest: -ERANGE).
        if lowerThreshold > upperThreshold {
            throw .lowerThresholdAboveUpper(k, lower: lowerThreshold, upper: upperThreshold)
        }
        switch address {
        case .v4(let a) where a.value == 0: throw .unspecifiedAddress("real server \(k)")
        case .v6(let a) where a.high == 0 && a.low == 0: throw .unspecifiedAddress("real server \(k)")
        default: break
        }
        if address.family != service.key.family && forwarding != .tunnel { throw .familyMismatch(service.key, k) }
        if forwarding != .tunnel {
            if tunnelType != .ipip || tunnelPort != 0 || !tunnelFlags.isEmpty { throw .tunnelOptionsWithoutTunnel(k) }
        } else {
            switch tunnelType {
            case .gue:
                if tunnelPort == 0 { throw .tunnelPortMissing(k) }
            case .ipip, .gre:
                if tunnelPort != 0 { throw .tunnelPortNotForType(k, tunnelType) }
                if tunnelFlags.contains(.remoteChecksum) { throw .remoteChecksumNotForType(k, tunnelType) }
            }
        }
    }
}
