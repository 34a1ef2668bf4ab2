import Synchronization

/// Traffic counters for a fixed number of objects (services, destinations), split into shards so that threads
/// counting packets do not share cache lines: the kernel's per-CPU `ip_vs_cpu_stats`, summed on read
/// (ip_vs_est.c `ip_vs_read_cpu_stats`).
///
/// Each (shard, object) pair owns one 64-byte line of five 64-bit counters; a shard's lines are contiguous. A
/// thread counts into the shard it is given (a proxy's worker index), with relaxed atomic adds: no lock, no
/// allocation, and no line shared with another worker. Two threads sharing a shard stay correct (the adds are
/// atomic), they only contend. Reads sum the shards with relaxed loads: a total may miss adds that are in flight,
/// as the kernel's may, but every finished add is counted once and no 64-bit value is torn.
///
/// With `exclusiveShards`, the caller promises that a shard is only ever counted into by one thread at a time (each
/// packet thread has its own worker index, like the kernel's per-CPU counters, which are written without atomic
/// read-modify-writes under `local_bh_disable`): a count is then a relaxed load and a relaxed store, a plain `mov`
/// pair on x86-64 instead of a `lock xadd`. Broken, the promise loses counts (two threads' stores overwrite each
/// other) but still never tears a value or races in the language's sense.
///
/// Memory: `shards × objects × 64` bytes, allocated once.
public final class ShardedStatistics: @unchecked Sendable {
    /// The number of shards: the requested number rounded up to a power of two. Shard `i` is `i & (shardCount - 1)`.
    public let shardCount: Int
    public let objectCount: Int
    @usableFromInline let shardMask: Int
    /// Whether each shard has a single writer at a time (see above).
    public let exclusiveShards: Bool
    /// Words per (shard, object) line: five counters, three words of padding.
    @usableFromInline static let stride = 8
    @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>

    @usableFromInline enum Counter: Int {
        case connections = 0, inPackets, outPackets, inBytes, outBytes
    }

    public init(objects: Int, shards: Int, exclusiveShards: Bool = false) {
        precondition(objects > 0 && shards > 0, "ShardedStatistics needs at least one object and one shard")
        objectCount = objects
        self.exclusiveShards = exclusiveShards
        var n = 1
        while n < shards { n <<= 1 }
        shardCount = n
        shardMask = n - 1
        let count = objects * shardCount * Self.stride
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: count * MemoryLayout<Atomic<UInt64>>.stride, alignment: 64)
        words = raw.bindMemory(to: Atomic<UInt64>.self, capacity: count)
        for i in 0..<count { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: objectCount * shardCount * Self.stride)
        UnsafeMutableRawPointer(words).deallocate()
    }

    @inlinable
    func line(_ object: Int, shard: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        words + ((shard & shardMask) * objectCount + object) * Self.stride
    }

    /// One packet of `bytes` bytes in `direction`, counted for `object` in `shard`.
    @inlinable
    public func countPacket(_ object: Int, bytes: Int, direction: PacketDirection, shard: Int) {
        let l = line(object, shard: shard)
        let base = direction == .input ? Counter.inPackets.rawValue : Counter.outPackets.rawValue
        add(l, base, 1)
        add(l, base + 2, UInt64(truncatingIfNeeded: bytes))
    }

    @inlinable @inline(__always)
    func add(_ line: UnsafeMutablePointer<Atomic<UInt64>>, _ counter: Int, _ delta: UInt64) {
        if exclusiveShards {
            line[counter].store(line[counter].load(ordering: .relaxed) &+ delta, ordering: .relaxed)
        } else {
            line[counter].wrappingAdd(delta, ordering: .relaxed)
        }
    }

    /// One new connection scheduled to `object`, counted in `shard`.
    @inlinable
    public func countConnection(_ object: Int, shard: Int) {
        add(line(object, shard: shard), Counter.connections.rawValue, 1)
    }

    /// The totals of `object` over all shards.
    public func totals(_ object: Int) -> StatisticsCounters {
        var t = StatisticsCounters()
        for s in 0..<shardCount {
            let l = line(object, shard: s)
            t.connections &+= l[Counter.connections.rawValue].load(ordering: .relaxed)
            t.inPackets &+= l[Counter.inPackets.rawValue].load(ordering: .relaxed)
            t.outPackets &+= l[Counter.outPackets.rawValue].load(ordering: .relaxed)
            t.inBytes &+= l[Counter.inBytes.rawValue].load(ordering: .relaxed)
            t.outBytes &+= l[Counter.outBytes.rawValue].load(ordering: .relaxed)
        }
        return t
    }

    /// Sets `object`'s counters to 0 in every shard, for an object slot taken by a new service or destination. Only
    /// meaningful while nobody counts into it.
    public func reset(_ object: Int) {
        for s in 0..<shardCount {
            let l = line(object, shard: s)
            for c in 0..<5 { l[c].store(0, ordering: .relaxed) }
        }
    }
}
