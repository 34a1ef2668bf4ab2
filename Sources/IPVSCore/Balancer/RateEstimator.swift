/// The kernel's rate estimator for one statistics object (ip_vs_est.c, Linux 6.1: `estimation_timer`,
/// `ip_vs_read_estimator`, `ip_vs_zero_estimator`).
///
/// Every 2 seconds the counters' increase since the last tick becomes a rate, and each average moves a quarter of
/// the way towards it: `avg += (rate - avg) >> 2` (W = 2⁻²). Averages are fixed-point: connections and packets per
/// second scaled by 2¹⁰ (the 2-second increase shifted left by 9), bytes per second scaled by 2⁵ (shifted left by
/// 4). Arithmetic is the kernel's: unsigned 64-bit storage, the difference taken as signed 64-bit and shifted
/// arithmetically, so averages fall back towards 0 and wrap exactly as the kernel's do.
///
/// A pure value: the caller feeds counter totals once per 2-second period (`Balancer.tick(now:)` drives it).
public struct RateEstimator: Hashable, Sendable {
    /// The totals seen at the previous tick (`last_conns`, `last_inpkts`, …).
    public private(set) var last: StatisticsCounters
    /// The scaled averages (`cps`, `inpps`, `outpps`: ×2¹⁰; `inbps`, `outbps`: ×2⁵).
    public private(set) var cps: UInt64 = 0
    public private(set) var inpps: UInt64 = 0
    public private(set) var outpps: UInt64 = 0
    public private(set) var inbps: UInt64 = 0
    public private(set) var outbps: UInt64 = 0

    /// The estimation period: `mod_timer(&ipvs->est_timer, jiffies + 2*HZ)`.
    public static let periodSeconds: UInt64 = 2

    /// An estimator starting from `totals` with all averages 0 (`ip_vs_zero_estimator`; also what a new service or
    /// destination starts with).
    public init(startingAt totals: StatisticsCounters = .zero) {
        last = totals
    }

    /// One tick of `estimation_timer` with the counters' current totals.
    public mutating func update(totals t: StatisticsCounters) {
        Self.step(&cps, &last.connections, t.connections, shift: 9)
        Self.step(&inpps, &last.inPackets, t.inPackets, shift: 9)
        Self.step(&outpps, &last.outPackets, t.outPackets, shift: 9)
        Self.step(&inbps, &last.inBytes, t.inBytes, shift: 4)
        Self.step(&outbps, &last.outBytes, t.outBytes, shift: 4)
    }

    /// `rate = (total - last) << shift; last = total; avg += ((s64)rate - (s64)avg) >> 2`.
    @inline(__always)
    static func step(_ avg: inout UInt64, _ last: inout UInt64, _ total: UInt64, shift: UInt64) {
        let rate = (total &- last) << shift
        last = total
        let diff = Int64(bitPattern: rate) &- Int64(bitPattern: avg)
        avg = avg &+ UInt64(bitPattern: diff >> 2)
    }

    /// The decoded rates (`ip_vs_read_estimator`): averages rounded to the nearest unit,
    /// `(cps + 0x1FF) >> 10` and `(bps + 0xF) >> 5`.
    public var rates: StatisticsRates {
        StatisticsRates(
            connectionsPerSecond: (cps &+ 0x1FF) >> 10, inPacketsPerSecond: (inpps &+ 0x1FF) >> 10,
            outPacketsPerSecond: (outpps &+ 0x1FF) >> 10, inBytesPerSecond: (inbps &+ 0xF) >> 5,
            outBytesPerSecond: (outbps &+ 0xF) >> 5)
    }
}
