/// The commands of ipvsadm 1.31, in the order of its `CMD_*` constants (ipvsadm.c): the rows of
/// ``CommandOptionMatrix``. `rawValue` is the row index; `name` is the word ipvsadm uses in its messages.
public enum IPVSAdmCommand: Int, CaseIterable, Hashable, Sendable {
    case addService, editService, deleteService, flush, list, addServer, deleteServer, editServer
    case setTimeouts, startDaemon, stopDaemon, restore, save, zero

    /// ipvsadm's `cmdnames`: how error messages name the command.
    public var name: String {
        switch self {
        case .addService: return "add-service"
        case .editService: return "edit-service"
        case .deleteService: return "delete-service"
        case .flush: return "flush"
        case .list: return "list"
        case .addServer: return "add-server"
        case .deleteServer: return "delete-server"
        case .editServer: return "edit-server"
        case .setTimeouts: return "set"
        case .startDaemon: return "start-daemon"
        case .stopDaemon: return "stop-daemon"
        case .restore: return "restore"
        case .save: return "save"
        case .zero: return "zero"
        }
    }
}

/// The options ipvsadm checks against a command, in the order of its `OPTC_*` constants: the columns of
/// ``CommandOptionMatrix``. The order matters: ipvsadm reports the first offending option in this order.
/// `-6`, `--sort` and the commands themselves are not among them (ipvsadm never checks them).
public enum IPVSAdmOption: Int, CaseIterable, Hashable, Sendable {
    case numeric, connection, service, scheduler, persistent, netmask, realServer, forwarding, weight
    case upperThreshold, lowerThreshold, mcastInterface, timeout, daemon, stats, rate, thresholds
    case persistentConnections, noSort, syncID, exact, onePacket, persistenceEngine, schedulerFlags
    case mcastGroup, mcastPort, mcastTTL, syncMaxLength, tunnelInfo, tunnelType, tunnelPort
    case tunnelNoChecksum, tunnelChecksum, tunnelRemoteChecksum

    /// ipvsadm's `optnames`: how error messages name the option.
    public var name: String {
        switch self {
        case .numeric: return "numeric"
        case .connection: return "connection"
        case .service: return "service-address"
        case .scheduler: return "scheduler"
        case .persistent: return "persistent"
        case .netmask: return "netmask"
        case .realServer: return "real-server"
        case .forwarding: return "forwarding-method"
        case .weight: return "weight"
        case .upperThreshold: return "u-threshold"
        case .lowerThreshold: return "l-threshold"
        case .mcastInterface: return "mcast-interface"
        case .timeout: return "timeout"
        case .daemon: return "daemon"
        case .stats: return "stats"
        case .rate: return "rate"
        case .thresholds: return "thresholds"
        case .persistentConnections: return "persistent-conn"
        case .noSort: return "nosort"
        case .syncID: return "syncid"
        case .exact: return "exact"
        case .onePacket: return "ops"
        case .persistenceEngine: return "pe"
        case .schedulerFlags: return "sched-flags"
        case .mcastGroup: return "mcast-group"
        case .mcastPort: return "mcast-port"
        case .mcastTTL: return "mcast-ttl"
        case .syncMaxLength: return "sync-maxlen"
        case .tunnelInfo: return "tun-info"
        case .tunnelType: return "tun-type"
        case .tunnelPort: return "tun-port"
        case .tunnelNoChecksum: return "tun-nocsum"
        case .tunnelChecksum: return "tun-csum"
        case .tunnelRemoteChecksum: return "tun-remcsum"
        }
    }
}

/// A set of ``IPVSAdmOption``s, one bit per option at its `rawValue` (ipvsadm's `OPT_*` bits).
public struct IPVSAdmOptionSet: Hashable, Sendable {
    public var bits: UInt64 = 0
    public init() {}
    public init(_ options: [IPVSAdmOption]) { for o in options { insert(o) } }
    public func contains(_ o: IPVSAdmOption) -> Bool { bits & (1 << UInt64(o.rawValue)) != 0 }
    public mutating func insert(_ o: IPVSAdmOption) { bits |= 1 << UInt64(o.rawValue) }
    public func containsAny(_ options: [IPVSAdmOption]) -> Bool { options.contains { contains($0) } }
}
