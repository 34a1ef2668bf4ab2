@testable import IPVSCore
import Synchronization
import Testing

@Suite("Sharded statistics")
struct StatsTests {
    @Test("Counts from several shards sum per object; objects and directions stay apart")
    func sums() {
        let s = ShardedStatistics(objects: 3, shards: 4)
        for shard in 0..<4 {
            s.countConnection(1, shard: shard)
            s.countPacket(1, bytes: 100 * (shard + 1), direction: .input, shard: shard)
            s.countPacket(1, bytes: 7, direction: .output, shard: shard)
        }
        s.countPacket(2, bytes: 1500, direction: .output, shard: 9)  // shard 9 wraps to 1
        #expect(s.totals(1) == StatisticsCounters(connections: 4, inPackets: 4, outPackets: 4, inBytes: 1000,
                                                  outBytes: 28))
        #expect(s.totals(2) == StatisticsCounters(outPackets: 1, outBytes: 1500))
        #expect(s.totals(0) == .zero)
        s.reset(1)
        #expect(s.totals(1) == .zero)
        #expect(s.totals(2).outBytes == 1500)
    }

    @Test("Exclusive shards (one writer per shard) count the same")
    func exclusive() {
        let s = ShardedStatistics(objects: 2, shards: 3, exclusiveShards: true)
        #expect(s.shardCount == 4)
        for shard in 0..<4 {
            s.countConnection(0, shard: shard)
            s.countPacket(0, bytes: 10, direction: .output, shard: shard)
        }
        #expect(s.totals(0) == StatisticsCounters(connections: 4, outPackets: 4, outBytes: 40))
        #expect(s.totals(1) == .zero)
    }

    @Test("Counters are 64-bit: bytes beyond 2^32 are kept")
    func sixtyFourBit() {
        let s = ShardedStatistics(objects: 1, shards: 1)
        for _ in 0..<3 { s.countPacket(0, bytes: Int(UInt32.max), direction: .input, shard: 0) }
        #expect(s.totals(0).inBytes == 3 * UInt64(UInt32.max))
    }
}

/// Two threads counting into their own shards and, on another object, into the same shard: no count is lost.
@Suite("Sharded statistics under threads (Stress)")
struct StatsStressTests {
    @Test("2 threads × 200 000 packets: totals exact, shared shard or not")
    func twoThreads() async {
        let s = ShardedStatistics(objects: 2, shards: 2)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    for i in 0..<200_000 {
                        s.countPacket(0, bytes: i & 0xff, direction: .input, shard: worker)
                        s.countPacket(1, bytes: 1, direction: .output, shard: 0)  // both threads, one shard
                    }
                }
            }
        }
        let perThreadBytes = UInt64((0..<200_000).reduce(0) { $0 + ($1 & 0xff) })
        #expect(s.totals(0) == StatisticsCounters(inPackets: 400_000, inBytes: 2 * perThreadBytes))
        #expect(s.totals(1) == StatisticsCounters(outPackets: 400_000, outBytes: 400_000))
    }

    @Test("2 threads with exclusive shards, each its own: totals exact")
    func twoThreadsExclusive() async {
        let s = ShardedStatistics(objects: 1, shards: 2, exclusiveShards: true)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    for _ in 0..<200_000 { s.countPacket(0, bytes: 3, direction: .input, shard: worker) }
                }
            }
        }
        #expect(s.totals(0) == StatisticsCounters(inPackets: 400_000, inBytes: 1_200_000))
    }
}
