// MaglevTable: populate (M = 4093 and 65537, N = 100 and 1000) beside the C reference's populate, and lookup.
// Targets (issue 2): Swift populate ≤ 1.2 × C at M = 65537, N = 100; lookup ≤ 5 ns.
//
// The populate ratio printed by tools/bench/maglev-compare comes from one interleaved run of both; the figures here
// are the same builds measured by the benchmark harness, side by side.
import Benchmark
import CMaglevReference
import IPVSCore

/// Backend keys as the tests use them: a SplitMix64 sequence.
func backends(_ count: Int) -> [MaglevTable.Backend] {
    (0..<count).map { MaglevTable.Backend(key: MaglevHash.mix(1 &+ UInt64($0) &* MaglevHash.gamma)) }
}

let hashCount = 4096  // a power of two: hashes[i & (hashCount - 1)]

let benchmarks: @Sendable () -> Void = {
    let populate = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 2000
    )
    for size in [4093, 65537] {
        for count in [100, 1000] {
            let swiftBackends = backends(count)
            let cBackends = swiftBackends.map { CMaglevReference_Backend(key: $0.key, weight: $0.weight) }
            Benchmark("populate Swift M=\(size) N=\(count)", configuration: populate) { _ in
                blackHole(try! MaglevTable(size: size, backends: swiftBackends))
            }
            Benchmark("populate C M=\(size) N=\(count)", configuration: populate) { _ in
                let table = cBackends.withUnsafeBufferPointer {
                    CMaglevReference_build(UInt32(size), $0.baseAddress, UInt32($0.count))
                }
                blackHole(table?[0])
                CMaglevReference_free(table)
            }
        }
    }

    let lookup = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .mega,
        maxDuration: .seconds(1),
        maxIterations: 10_000
    )
    var random: UInt64 = 0x100C
    let hashes: [UInt64] = (0..<hashCount).map { _ in
        random &+= MaglevHash.gamma
        return MaglevHash.mix(random)
    }
    for (size, count) in [(65537, 100), (4093, 1000)] {
        let table = try! MaglevTable(size: size, backends: backends(count))
        // Throughput: independent lookups of precomputed flow hashes, as a data plane does for a batch of packets.
        Benchmark("lookup M=\(size) N=\(count)", configuration: lookup) { benchmark in
            hashes.withUnsafeBufferPointer { h in
                var sum = 0
                for i in benchmark.scaledIterations { sum &+= table.lookup(h[i & (hashCount - 1)]) }
                blackHole(sum)
            }
        }
        // The same, hashing a raw 64-bit flow key first (lookup(key:) = mix + lookup).
        Benchmark("lookup(key:) M=\(size) N=\(count)", configuration: lookup) { benchmark in
            var sum = 0
            for i in benchmark.scaledIterations { sum &+= table.lookup(key: UInt64(truncatingIfNeeded: i)) }
            blackHole(sum)
        }
        // Latency: each lookup's hash is derived from the previous result (a multiply-add, ~4 cycles of the figure),
        // so lookups cannot overlap: the multiply-shift and a load that hits L1 (M = 4093) or L2 (M = 65537).
        Benchmark("lookup chained M=\(size) N=\(count)", configuration: lookup) { benchmark in
            var hash = hashes[0]
            for _ in benchmark.scaledIterations {
                hash = hash &* MaglevHash.gamma &+ UInt64(truncatingIfNeeded: table.lookup(hash))
            }
            blackHole(hash)
        }
    }
}
