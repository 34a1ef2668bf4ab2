import IPVSCore

/// A service as the kernel reports it (IPVS_CMD_NEW_SERVICE replies to IPVS_CMD_GET_SERVICE): the configuration
/// and the counters.
public struct IPVSServiceEntry: Hashable, Sendable {
    /// The configuration. Its flags leave out `.hashed`, which the kernel sets on every service in its table.
    public var service: VirtualService
    /// The flags exactly as the kernel reported them (ip_vs_ctl.c `ip_vs_genl_fill_service`), `.hashed` included.
    public var kernelFlags: ServiceFlags
    public var statistics: IPVSStatistics

    public init(service: VirtualService, kernelFlags: ServiceFlags, statistics: IPVSStatistics) {
        self.service = service
        self.kernelFlags = kernelFlags
        self.statistics = statistics
    }
}

/// A destination as the kernel reports it (ip_vs_ctl.c `ip_vs_genl_fill_dest`).
public struct IPVSDestinationEntry: Hashable, Sendable {
    public var server: RealServer
    public var activeConnections: UInt32
    public var inactiveConnections: UInt32
    /// Persistence templates pointing at this destination.
    public var persistentConnections: UInt32
    public var statistics: IPVSStatistics

    public init(
        server: RealServer, activeConnections: UInt32 = 0, inactiveConnections: UInt32 = 0,
        persistentConnections: UInt32 = 0, statistics: IPVSStatistics = IPVSStatistics()
    ) {
        self.server = server
        self.activeConnections = activeConnections
        self.inactiveConnections = inactiveConnections
        self.persistentConnections = persistentConnections
        self.statistics = statistics
    }
}

/// Counters and rates of a service or destination (`struct ip_vs_kstats`). Read from IPVS_*_ATTR_STATS64 when the
/// kernel sends it (3.19 and later), otherwise from the 32-bit IPVS_*_ATTR_STATS.
public struct IPVSStatistics: Hashable, Sendable {
    public var connections: UInt64 = 0
    public var incomingPackets: UInt64 = 0
    public var outgoingPackets: UInt64 = 0
    public var incomingBytes: UInt64 = 0
    public var outgoingBytes: UInt64 = 0
    /// Rates, estimated by the kernel every 2 s.
    public var connectionsPerSecond: UInt64 = 0
    public var incomingPacketsPerSecond: UInt64 = 0
    public var outgoingPacketsPerSecond: UInt64 = 0
    public var incomingBytesPerSecond: UInt64 = 0
    public var outgoingBytesPerSecond: UInt64 = 0
    /// True when these came from the 64-bit attribute; false when only the 32-bit one was there.
    public var is64Bit: Bool = false

    public init() {}
}

/// IPVS_CMD_GET_INFO: the IPVS version and the size of the connection hash table.
public struct IPVSInfo: Hashable, Sendable {
    /// `IP_VS_VERSION_CODE`: major << 16 | minor << 8 | patch.
    public var versionCode: UInt32
    public var connectionTableSize: UInt32

    public init(versionCode: UInt32, connectionTableSize: UInt32) {
        self.versionCode = versionCode
        self.connectionTableSize = connectionTableSize
    }

    /// "1.2.1", as ipvsadm prints it.
    public var version: String { "\(versionCode >> 16).\((versionCode >> 8) & 0xff).\(versionCode & 0xff)" }
}

/// IPVS_CMD_GET_CONFIG / SET_CONFIG: connection timeouts in seconds (ipvsadm `--set tcp tcpfin udp`). In a
/// SET_CONFIG request 0 leaves a timeout unchanged.
public struct IPVSTimeouts: Hashable, Sendable {
    public var tcp: UInt32
    public var tcpFin: UInt32
    public var udp: UInt32

    public init(tcp: UInt32, tcpFin: UInt32, udp: UInt32) {
        self.tcp = tcp
        self.tcpFin = tcpFin
        self.udp = udp
    }
}
