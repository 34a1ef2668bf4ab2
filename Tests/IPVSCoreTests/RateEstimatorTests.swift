@testable import IPVSCore
import Testing

/// The rate estimator against values computed by hand with ip_vs_est.c's formulas:
/// `rate = (total - last) << 9` (conns, packets) or `<< 4` (bytes); `avg += ((s64)rate - (s64)avg) >> 2`;
/// read as `(avg + 0x1FF) >> 10` or `(avg + 0xF) >> 5`.
@Suite("Rate estimator (ip_vs_est.c)")
struct RateEstimatorTests {
    @Test("A steady 50 connections/s: the average climbs a quarter of the remaining way each 2-s tick")
    func steadyConnections() {
        var e = RateEstimator()
        var total = StatisticsCounters()
        // rate = 100 << 9 = 51200 every tick.
        // 0 + 51200/4 = 12800; +(51200-12800)/4 = 22400; +7200 = 29600; +5400 = 35000; +4050 = 39050;
        // +(12150 >> 2 = 3037) = 42087.
        let expectedScaled: [UInt64] = [12800, 22400, 29600, 35000, 39050, 42087]
        // (12800 + 511) >> 10 = 12; (22400 + 511) >> 10 = 22; 29; 34; 38; 41.
        let expectedRate: [UInt64] = [12, 22, 29, 34, 38, 41]
        for i in 0..<6 {
            total.connections += 100
            e.update(totals: total)
            #expect(e.cps == expectedScaled[i], "tick \(i)")
            #expect(e.rates.connectionsPerSecond == expectedRate[i], "tick \(i)")
        }
    }

    @Test("Bytes are scaled by 2^5: a 1 MB burst reads 125000 B/s, then decays by a quarter per tick")
    func bytesBurst() {
        var e = RateEstimator()
        // rate = 1_000_000 << 4 = 16_000_000; avg = 4_000_000; (4_000_000 + 15) >> 5 = 125_000.
        e.update(totals: StatisticsCounters(inBytes: 1_000_000, outBytes: 2_000))
        #expect(e.inbps == 4_000_000 && e.rates.inBytesPerSecond == 125_000)
        // out: 2000 << 4 = 32000, /4 = 8000, (8000 + 15) >> 5 = 250.
        #expect(e.outbps == 8000 && e.rates.outBytesPerSecond == 250)
        // Nothing new: -4_000_000 >> 2 = -1_000_000 → 3_000_000 → 93_750 B/s; then 2_250_000 → 70_312.
        e.update(totals: StatisticsCounters(inBytes: 1_000_000, outBytes: 2_000))
        #expect(e.inbps == 3_000_000 && e.rates.inBytesPerSecond == 93_750)
        e.update(totals: StatisticsCounters(inBytes: 1_000_000, outBytes: 2_000))
        #expect(e.inbps == 2_250_000 && e.rates.inBytesPerSecond == 70_312)
    }

    @Test("Packets: 3 in 2 s read 0/s after one tick (384 scaled), 1/s after a second; 1000 read 125/s")
    func packets() {
        var e = RateEstimator()
        // 3 << 9 = 1536; /4 = 384; (384 + 511) >> 10 = 0. A second tick: +(1536-384)/4 = 288 → 672 → 1.
        e.update(totals: StatisticsCounters(inPackets: 3, outPackets: 1000))
        #expect(e.inpps == 384 && e.rates.inPacketsPerSecond == 0)
        // 1000 << 9 = 512000, /4 = 128000 → (128000 + 511) >> 10 = 125.
        #expect(e.outpps == 128_000 && e.rates.outPacketsPerSecond == 125)
        e.update(totals: StatisticsCounters(inPackets: 6, outPackets: 1000))
        #expect(e.inpps == 672 && e.rates.inPacketsPerSecond == 1)
    }

    @Test("The decay shifts arithmetically: a small average steps 3, 2, 1, 0 and stays at 0")
    func arithmeticShiftDecay() {
        // Start from an average of 3 (scaled): 1 byte in 2 s gives rate 16, avg 4; then nothing:
        // (0 - 4) >> 2 = -1 → 3; (0 - 3) >> 2 = -1 (rounds towards -inf, where a division would give 0) → 2;
        // → 1; → 0.
        var e = RateEstimator()
        e.update(totals: StatisticsCounters(inBytes: 1))
        #expect(e.inbps == 4)
        var seen: [UInt64] = []
        for _ in 0..<5 {
            e.update(totals: StatisticsCounters(inBytes: 1))
            seen.append(e.inbps)
        }
        #expect(seen == [3, 2, 1, 0, 0])
    }

    @Test("Starting from existing totals only counts what comes after (ip_vs_zero_estimator)")
    func startingTotals() {
        var e = RateEstimator(startingAt: StatisticsCounters(connections: 1_000_000))
        e.update(totals: StatisticsCounters(connections: 1_000_004))
        #expect(e.cps == 512)  // 4 << 9 = 2048, / 4
        #expect(e.last.connections == 1_000_004)
    }
}
