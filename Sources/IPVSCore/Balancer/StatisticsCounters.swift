/// A service's or destination's traffic counters, 64-bit as the kernel keeps them (`struct ip_vs_kstats`:
/// `conns`, `inpkts`, `outpkts`, `inbytes`, `outbytes`).
public struct StatisticsCounters: Hashable, Sendable {
    /// Connections scheduled.
    public var connections: UInt64
    public var inPackets: UInt64
    public var outPackets: UInt64
    public var inBytes: UInt64
    public var outBytes: UInt64

    public init(connections: UInt64 = 0, inPackets: UInt64 = 0, outPackets: UInt64 = 0, inBytes: UInt64 = 0,
                outBytes: UInt64 = 0) {
        self.connections = connections
        self.inPackets = inPackets
        self.outPackets = outPackets
        self.inBytes = inBytes
        self.outBytes = outBytes
    }

    public static let zero = StatisticsCounters()
}

/// Rates as the kernel reports them (`ip_vs_read_estimator`): connections, packets in and out per second, bytes in
/// and out per second.
public struct StatisticsRates: Hashable, Sendable {
    public var connectionsPerSecond: UInt64
    public var inPacketsPerSecond: UInt64
    public var outPacketsPerSecond: UInt64
    public var inBytesPerSecond: UInt64
    public var outBytesPerSecond: UInt64

    public init(connectionsPerSecond: UInt64 = 0, inPacketsPerSecond: UInt64 = 0, outPacketsPerSecond: UInt64 = 0,
                inBytesPerSecond: UInt64 = 0, outBytesPerSecond: UInt64 = 0) {
        self.connectionsPerSecond = connectionsPerSecond
        self.inPacketsPerSecond = inPacketsPerSecond
        self.outPacketsPerSecond = outPacketsPerSecond
        self.inBytesPerSecond = inBytesPerSecond
        self.outBytesPerSecond = outBytesPerSecond
    }
}
