import Synchronization

/// A fixed array of 64-bit atomics in one allocation: per-slot words the balancer reads on the packet path
/// (destination reference counts and availability, protocol timeouts) without locks.
@usableFromInline
final class AtomicWords: @unchecked Sendable {
    @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let count: Int

    init(count: Int, initialValue: UInt64 = 0) {
        self.count = count
        words = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: Swift.max(count, 1))
        for i in 0..<count { (words + i).initialize(to: Atomic(initialValue)) }
    }

    deinit {
        words.deinitialize(count: count)
        words.deallocate()
    }

    @inlinable
    func load(_ i: Int) -> UInt64 { words[i].load(ordering: .relaxed) }

    @inlinable
    func store(_ i: Int, _ v: UInt64) { words[i].store(v, ordering: .relaxed) }

    @inlinable
    func add(_ i: Int, _ delta: UInt64) { words[i].wrappingAdd(delta, ordering: .relaxed) }

    @inlinable
    func subtract(_ i: Int, _ delta: UInt64) { words[i].wrappingSubtract(delta, ordering: .relaxed) }
}
