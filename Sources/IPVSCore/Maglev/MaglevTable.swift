/// A Maglev consistent-hashing lookup table of any prime size, over weighted backends named by 64-bit keys.
///
/// This is the general-purpose table of Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
/// Balancer" (NSDI 2016), §3.4, for callers outside the kernel-compatible mh scheduler (which has its own table of
/// 4093 slots and the kernel's hsiphash, see `MaglevHashScheduler`). Each backend prefers the slots
/// `(offset + j·skip) mod M` for j = 0, 1, 2…, where offset and skip come from two independent hashes of its key
/// (``MaglevHash/offsetHash(_:)``, ``MaglevHash/skipHash(_:)``). Since M is prime and 1 ≤ skip < M, that sequence is
/// a permutation of all slots. Backends then take turns claiming their next free preferred slot until the table is
/// full, so each ends up with a share of the slots proportional to its weight, and a change of backends moves few
/// slots (see ``disruption(_:_:)``).
///
/// Weights enter as turns: in every round each backend claims as many slots as its weight divided by the gcd of all
/// weights. When one round would claim more than a quarter of the table, the turns are scaled down to that budget
/// (a positive weight keeps at least one turn), so that every backend gets several rounds and none is starved.
///
/// Disruption is near-minimal only when the table is large against the backend count. Removing one of N equally
/// weighted backends moves, in units of 1/N (its own share): about 1.03 at M = 65537, N = 10; 1.6 at N = 100; 6.7 at
/// N = 1000; and 4.1 at M = 4093, N = 100 (MaglevTableTests pins these). The paper advises M > 100·N.
///
/// The table is built once and never changes: rebuild it when the backends change. ``lookup(_:)`` is a multiply and
/// a load.
public struct MaglevTable: Sendable {
    /// A backend: a caller-chosen 64-bit key (e.g. ``MaglevHash/key(_:)`` of its name) and a weight. Weight 0 keeps
    /// the backend's index but gives it no slots.
    public struct Backend: Hashable, Sendable {
        public var key: UInt64
        public var weight: UInt32

        @inlinable
        public init(key: UInt64, weight: UInt32 = 1) {
            self.key = key
            self.weight = weight
        }
    }

    /// The table size the Maglev paper uses in production: the prime 65537.
    public static let defaultSize = 65537
    /// The largest size accepted: slot numbers and backend indices are stored in 32 bits.
    public static let maximumSize = Int(Int32.max)

    /// The number of slots, a prime.
    public let size: Int
    /// The backends in the order given; ``lookup(_:)`` returns indices into this array.
    public let backends: [Backend]
    /// ManagedBuffer is never Sendable; this one is immutable once `init` returns, so sharing it is safe.
    @usableFromInline nonisolated(unsafe) let storage: Storage

    /// Builds the table.
    ///
    /// - Throws: ``MaglevTableError`` when `size` is not a prime in 2…``maximumSize``, when no backend has a
    ///   positive weight, when more backends have one than there are slots, or when two backends share a key.
    public init(size: Int = MaglevTable.defaultSize, backends: [Backend]) throws(MaglevTableError) {
        guard size >= 2 && size <= Self.maximumSize else { throw .sizeOutOfRange(size) }
        guard Self.isPrime(size) else { throw .sizeNotPrime(size) }
        precondition(backends.count <= Int(Int32.max), "backend indices are stored as Int32")
        var weighted = 0
        for b in backends where b.weight > 0 { weighted += 1 }
        guard weighted > 0 else { throw .noWeightedBackend }
        guard weighted <= size else { throw .tooManyBackends(count: weighted, size: size) }
        if let duplicate = Self.firstDuplicateKey(backends) { throw .duplicateKey(duplicate) }

        let storage = Storage.make(count: size)
        let m = UInt32(size)
        // The cursors live only while the table fills. On the heap: with them in a stack temporary
        // (withUnsafeTemporaryAllocation) the same instructions ran ~30 % slower here (M = 65537, N = 100).
        let cursors = UnsafeMutablePointer<PermutationCursor>.allocate(capacity: weighted)
        defer { cursors.deallocate() }
        Self.prepareCursors(cursors, backends: backends, size: m)
        storage.withUnsafeMutablePointerToElements { Self.populate($0, size: m, cursors: cursors, count: weighted) }
        self.size = size
        self.backends = backends
        self.storage = storage
    }

    /// Builds the table over equally weighted backends.
    public init(size: Int = MaglevTable.defaultSize, keys: [UInt64]) throws(MaglevTableError) {
        try self.init(size: size, backends: keys.map { Backend(key: $0) })
    }

    // MARK: - Lookup

    /// The backend (an index into ``backends``) for a flow whose hash is `hash`.
    ///
    /// The slot is ⌊hash · M / 2⁶⁴⌋ (Lemire's multiply-shift range reduction, "Fast Random Integer Generation in an
    /// Interval", 2019) rather than `hash mod M`: one multiply instead of a 64-bit division, which costs tens of
    /// cycles on x86. It reads the high bits of `hash`, so `hash` must be well mixed across all 64 bits: pass it
    /// through ``MaglevHash/mix(_:)`` (or use ``lookup(key:)``) if it is not already the output of a good hash.
    @inlinable
    public func lookup(_ hash: UInt64) -> Int {
        let slot = hash.multipliedFullWidth(by: UInt64(truncatingIfNeeded: size)).high
        return storage.withUnsafeMutablePointerToElements { Int($0[Int(truncatingIfNeeded: slot)]) }
    }

    /// The backend for a flow identified by `key`, which need not be well mixed: `lookup(MaglevHash.mix(key))`.
    @inlinable
    public func lookup(key: UInt64) -> Int { lookup(MaglevHash.mix(key)) }

    /// The backend that owns `slot` (0 ≤ slot < ``size``).
    public func backend(atSlot slot: Int) -> Int {
        precondition(slot >= 0 && slot < size, "slot \(slot) out of 0..<\(size)")
        return storage.withUnsafeMutablePointerToElements { Int($0[slot]) }
    }

    /// How many slots each backend owns, indexed like ``backends``.
    public var slotCounts: [Int] {
        var counts = [Int](repeating: 0, count: backends.count)
        storage.withUnsafeMutablePointerToElements { slots in
            for s in 0..<size { counts[Int(slots[s])] += 1 }
        }
        return counts
    }

    // MARK: - Disruption

    /// The fraction of slots whose backend differs between `a` and `b` (0…1), with backends compared by key so that
    /// tables over different backend lists can be compared. This is the share of flows that change backend when a
    /// balancer switches from `a` to `b` (the paper's "disruption", §5.3). Both tables must have the same size.
    public static func disruption(_ a: MaglevTable, _ b: MaglevTable) -> Double {
        precondition(a.size == b.size, "disruption compares tables of the same size (\(a.size) vs \(b.size))")
        let keysA = a.backends.map(\.key)
        let keysB = b.backends.map(\.key)
        var moved = 0
        a.storage.withUnsafeMutablePointerToElements { slotsA in
            b.storage.withUnsafeMutablePointerToElements { slotsB in
                for s in 0..<a.size where keysA[Int(slotsA[s])] != keysB[Int(slotsB[s])] { moved += 1 }
            }
        }
        return Double(moved) / Double(a.size)
    }

    // MARK: - Sizes

    /// Whether `n` is prime (deterministic trial division by 2, 3 and 6k ± 1, at most √n / 3 steps).
    public static func isPrime(_ n: Int) -> Bool {
        if n < 2 { return false }
        if n < 4 { return true }
        if n % 2 == 0 || n % 3 == 0 { return false }
        var d = 5
        while d <= n / d {
            if n % d == 0 || n % (d + 2) == 0 { return false }
            d += 6
        }
        return true
    }

    /// The smallest prime at least `n`, e.g. to size a table at about 100 slots per backend.
    public static func smallestPrime(atLeast n: Int) -> Int {
        var p = max(n, 2)
        while !isPrime(p) { p += 1 }
        return p
    }
}

extension MaglevTable: Equatable {
    /// Tables are equal when they have the same size, the same backends in the same order, and the same slots.
    public static func == (a: MaglevTable, b: MaglevTable) -> Bool {
        guard a.size == b.size, a.backends == b.backends else { return false }
        if a.storage === b.storage { return true }
        return a.storage.withUnsafeMutablePointerToElements { slotsA in
            b.storage.withUnsafeMutablePointerToElements { slotsB in
                for s in 0..<a.size where slotsA[s] != slotsB[s] { return false }
                return true
            }
        }
    }
}

// MARK: - Storage and population

extension MaglevTable {
    /// The slots, flat and tail-allocated after the object header (the header is the slot count): element `s` is the
    /// index of the backend owning slot `s`. One allocation per table, and a lookup reaches the slots from the object
    /// address without loading a pointer. Never mutated after `init` returns.
    @usableFromInline
    final class Storage: ManagedBuffer<Int, Int32> {
        /// A storage of `count` slots, all −1 (free).
        static func make(count: Int) -> Storage {
            let storage = unsafeDowncast(Storage.create(minimumCapacity: count) { _ in count }, to: Storage.self)
            storage.withUnsafeMutablePointerToElements { $0.initialize(repeating: -1, count: count) }
            return storage
        }
        // Int32 is trivial: nothing to deinitialize before the memory goes.
    }

    /// Where a backend stands in its preference list: the next slot to try, the step, how many slots it claims per
    /// round, and its index in `backends`. 16 bytes, so that the fill loop reads one cache line per four backends.
    struct PermutationCursor {
        var position: UInt32
        var skip: UInt32
        var turns: UInt32
        var backend: Int32
    }

    /// Offsets, skips and turns of the weighted backends, in the order given.
    static func prepareCursors(
        _ cursors: UnsafeMutablePointer<PermutationCursor>, backends: [Backend], size m: UInt32
    ) {
        var divisor: UInt32 = 0
        var totalWeight: UInt64 = 0
        for b in backends where b.weight > 0 {
            divisor = gcd(divisor, b.weight)
            totalWeight += UInt64(b.weight)
        }
        var totalTurns = totalWeight / UInt64(divisor)
        // A round of more than a quarter of the table would leave the last backends of the list with a
        // disproportionate share (or none): scale the turns down to that budget.
        let budget = max(UInt64(m / 4), 1)
        let scale = totalTurns > budget
        var n = 0
        var scaledTotal: UInt64 = 0
        for (i, b) in backends.enumerated() where b.weight > 0 {
            var turns = UInt64(b.weight / divisor)
            if scale { turns = max(1, turns * budget / totalTurns) }
            scaledTotal += turns
            cursors[n] = PermutationCursor(
                position: UInt32(truncatingIfNeeded: MaglevHash.offsetHash(b.key) % UInt64(m)),
                skip: UInt32(truncatingIfNeeded: MaglevHash.skipHash(b.key) % UInt64(m - 1)) + 1,
                turns: UInt32(turns),
                backend: Int32(truncatingIfNeeded: i))
            n += 1
        }
        totalTurns = scaledTotal
        // Many backends clamped to one turn each can still overfill a round: then every backend gets one turn.
        if totalTurns > UInt64(m) {
            for j in 0..<n { cursors[j].turns = 1 }
        }
    }

    /// The fill loop of the paper's Pseudocode 1: in rounds, each backend claims `turns` slots, each the next free
    /// one of its permutation, until all `m` slots are taken. `slots` starts all −1.
    static func populate(
        _ slots: UnsafeMutablePointer<Int32>, size m: UInt32,
        cursors: UnsafeMutablePointer<PermutationCursor>, count: Int
    ) {
        var filled: UInt32 = 0
        while true {
            for j in 0..<count {
                let skip = cursors[j].skip
                let backend = cursors[j].backend
                var position = cursors[j].position
                var turns = cursors[j].turns
                repeat {
                    while slots[Int(position)] >= 0 {
                        position &+= skip
                        if position >= m { position &-= m }
                    }
                    slots[Int(position)] = backend
                    position &+= skip
                    if position >= m { position &-= m }
                    filled &+= 1
                    if filled == m { return }
                    turns &-= 1
                } while turns != 0
                cursors[j].position = position
            }
        }
    }

    static func gcd(_ a: UInt32, _ b: UInt32) -> UInt32 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }

    /// A key that appears twice, if any: an open-addressing set of backend indices, at most half full, in a
    /// temporary allocation (on the stack when it fits), O(N).
    static func firstDuplicateKey(_ backends: [Backend]) -> UInt64? {
        let n = backends.count
        if n < 2 { return nil }
        var capacity = 4
        while capacity < 2 * n { capacity <<= 1 }
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: capacity) { set -> UInt64? in
            set.initialize(repeating: 0)  // 0: empty; otherwise index + 1
            let mask = capacity - 1
            for (i, b) in backends.enumerated() {
                var h = Int(truncatingIfNeeded: MaglevHash.mix(b.key)) & mask
                while set[h] != 0 {
                    if backends[Int(set[h]) - 1].key == b.key { return b.key }
                    h = (h + 1) & mask
                }
                set[h] = Int32(truncatingIfNeeded: i + 1)
            }
            return nil
        }
    }
}
