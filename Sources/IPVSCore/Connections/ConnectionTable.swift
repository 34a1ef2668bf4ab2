import Synchronization

/// What `ConnectionTable.insert` did.
public enum ConnectionInsertResult: Hashable, Sendable {
    /// The connection was inserted.
    case inserted
    /// The connection was inserted in place of an expired connection with the same key, which was removed: its
    /// value is given so that the caller releases what it held (per-destination counts) exactly once.
    case replacedExpired(ConnectionValue)
    /// A live connection with this key exists; it was left as it is. Its current value is given.
    case exists(ConnectionValue)
    /// No free slot in the key's probe window: nothing was changed, and `fullInsertions` was incremented.
    case full
    /// The insert removed an expired connection with this key — its value is `expired`: the caller releases what
    /// it held, exactly as for `.replacedExpired` — but then did not insert: another thread's insert of the same
    /// key went live first (`current` is its value, as with `.exists`), or no slot of the probe window was free
    /// any more (`current` is nil, and `fullInsertions` was incremented, as with `.full`). The removal stands.
    case removedExpired(expired: ConnectionValue, current: ConnectionValue?)
}

/// What `ConnectionTable.update` / `compareAndUpdate` did.
public enum ConnectionUpdateResult: Hashable, Sendable {
    /// The connection's value went from `old` to `new`, atomically: no other update or removal came in between.
    case updated(old: ConnectionValue, new: ConnectionValue)
    /// The change was declined (the transform returned nil, or the value was not the expected one); nothing was
    /// changed. The current value is given.
    case declined(ConnectionValue)
    /// No live, unexpired connection with this key.
    case notFound
}

/// Why a `ConnectionTable` could not be created.
public enum ConnectionTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The capacity was not in `1...ConnectionTable.maximumCapacity`.
    case invalidCapacity(Int)
    /// The probe limit was less than 1.
    case invalidProbeLimit(Int)

    public var description: String {
        switch self {
        case .invalidCapacity(let c):
            return "connection table capacity \(c) is out of range: it must be 1...\(ConnectionTable.maximumCapacity)"
        case .invalidProbeLimit(let p):
            return "connection table probe limit \(p) is out of range: it must be at least 1"
        }
    }
}

/// A fixed-size, lock-free hash table of connections, for a proxy daemon that looks up every packet's connection
/// from several threads at once.
///
/// ## Layout
/// One raw allocation of `capacity` slots (a power of two, like the kernel's `conn_tab_bits`), each a 64-byte,
/// 64-byte-aligned cache line of eight 64-bit atomic words:
///
/// | word | content |
/// | --- | --- |
/// | 0 | header: status (bits 0…2), the key's IPv6 bit (3) and protocol (8…15), 16 bits of its hash (16…31), a generation (32…63) |
/// | 1 | the value's changing word: state, flags, expiry (see `ConnectionValue`) |
/// | 2 | destination and service ids |
/// | 3 | client port, virtual port, firewall mark |
/// | 4…7 | client and virtual addresses |
///
/// Entries are inline: a lookup is a hash, then (usually) one cache line, no pointer to chase. Memory is
/// `capacity × 64` bytes whatever the number of connections (`memoryFootprint`): 64 MiB for 1 M slots. Open
/// addressing needs free slots to stay fast: size the table at about twice the connections it must hold.
///
/// ## Probing
/// Linear probing from the key's hash, at most `probeLimit` slots (default 128, or the capacity if smaller). An
/// insert takes the first free slot (empty or tombstone) of the window; if there is none it returns `.full` and
/// counts it in `fullInsertions` — the table never grows and never traps. A lookup stops at the first empty slot.
///
/// ## Concurrency
/// Every word is an atomic; the header of each slot serves as a version, as in a seqlock:
/// - A **lookup** loads the header (acquire), compares the key words, loads the value words, then loads the header
///   again after an acquire fence: if it changed, the slot was written meanwhile and is read again. Lookups take no
///   lock and never write shared memory (two threads looking up the same keys do not bounce cache lines), and they
///   never wait for a writer: a slot being filled is skipped (that insert has not happened yet), and updates and
///   removals are single atomic steps.
/// - An **insert** claims a free slot with a compare-and-swap of its header (status → claimed, with the key's
///   identity: its tag and 16 bits of its hash; generation + 1), writes the key and value, marks it *pending*,
///   checks the probe window for a concurrent insert of the same key, and then makes it *live* with one store (the
///   linearisation point). Of two concurrent inserts of one key, exactly one wins and the other returns `.exists`
///   (after Purcell and Harris, "Non-blocking hashtables with open addressing", 2005: the pending insert nearer to
///   the key's home slot wins). One locked instruction per insert. Just after the claim, the insert checks, walking
///   back to the home slot, that none of the slots its probe passed has been emptied meanwhile (by a removal and
///   `clearTombstone`); if one has, it withdraws and starts again, since its entry would be cut off from its home.
/// - An **update** and a **removal** are one double-word compare-and-swap (`cmpxchg16b`) of the header and the
///   value word: an update changes the value word under an unchanged header; a removal turns the header into a
///   tombstone. Each therefore acts exactly once on exactly the value it returns, and neither can hit a later
///   occupant of the slot (the generation in the header changes on every reuse).
/// - **Tombstones** are reused by inserts. A tombstone followed by an empty slot is turned back into an empty slot
///   (by `remove` and by `sweep`), with the empty slot *held* for the two atomic steps this takes, so that no
///   insert can claim it in between (see `clearTombstone(at:)`).
///
/// ## Progress
/// Lookups never wait. Updates and removals retry only when the slot changed under them (someone else made
/// progress). An insert waits in two rare cases, each for a bounded amount of another thread's work: for a
/// concurrent insert of the *same* key (until that one's key is written, or until it goes live or withdraws), and
/// for a slot held by a tombstone clearing (two atomic operations). A thread descheduled inside those windows delays
/// only inserts of that key or of that probe window, never lookups.
///
/// ## Tombstones under churn
/// A tombstone with a live entry after it in the same run must stay (lookups of that entry probe past it), and an
/// insert reuses a tombstone only if its own probe sequence passes it. Under steady churn without expiry (insert new
/// keys, remove old ones) tombstones therefore accumulate towards an equilibrium: with 1 M live connections in
/// 2 M slots, about 0.8 M tombstones after 64 M operations of a 90/5/5 lookup/insert/remove mix, which makes inserts
/// and misses (which probe to an empty slot, at most `probeLimit` slots) slower; hits are unaffected. A sweep-time
/// compaction (holding the free slots of a run while checking that no entry's probe path crosses the tombstone) is
/// not implemented.
///
/// ## Reclamation
/// Nothing is ever freed while the table lives: slots are reused in place, and a reader that raced a removal and
/// a reuse sees the header change and reads the slot again. There is therefore no use-after-free, and no hazard
/// pointers or epochs to manage. The allocation is freed by `deinit`, when no thread can reach the table any more.
///
/// ## Expiry
/// A connection whose expiry has passed (`now >= expiry`) is a miss for `lookup` and `update`, is replaced by
/// `insert` (returning its value), and is removed by `sweep(now:)`, which runs concurrently with everything else.
/// A caller that wants to release what expired connections hold must use the value `sweep` and `insert` hand back.
public final class ConnectionTable: @unchecked Sendable {
    /// Bytes of memory per slot (one cache line).
    public static let bytesPerSlot = 64
    /// The largest capacity (2^31 slots, 128 GiB).
    public static let maximumCapacity = 1 << 31
    /// The probe window used unless `init` is told otherwise.
    public static let defaultProbeLimit = 128

    /// The number of slots: the requested capacity rounded up to a power of two.
    public let capacity: Int
    /// How many slots from a key's home slot an insert or a lookup looks at.
    public let probeLimit: Int

    @usableFromInline let words: UnsafeMutablePointer<Atomic<UInt64>>
    @usableFromInline let mask: Int
    @usableFromInline let seed: UInt64
    @usableFromInline let fullCount = Atomic<Int>(0)

    /// A table of `capacity` slots rounded up to a power of two.
    ///
    /// - Parameters:
    ///   - capacity: at least the number of slots wanted, `1...maximumCapacity`.
    ///   - probeLimit: the probe window (clamped to the capacity); at least 1.
    ///   - hashSeed: the hash key; by default a random one (pass one to make slot placement reproducible).
    /// - Throws: `ConnectionTableError` when a parameter is out of range; nothing is allocated then.
    public init(capacity: Int, probeLimit: Int = ConnectionTable.defaultProbeLimit, hashSeed: UInt64? = nil)
        throws(ConnectionTableError)
    {
        guard capacity >= 1, capacity <= ConnectionTable.maximumCapacity else {
            throw .invalidCapacity(capacity)
        }
        guard probeLimit >= 1 else { throw .invalidProbeLimit(probeLimit) }
        var slots = 1
        while slots < capacity { slots <<= 1 }
        self.capacity = slots
        self.mask = slots - 1
        self.probeLimit = min(probeLimit, slots)
        var rng = SystemRandomNumberGenerator()
        self.seed = hashSeed ?? rng.next()
        let count = slots * 8
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: slots * ConnectionTable.bytesPerSlot, alignment: ConnectionTable.bytesPerSlot)
        let w = raw.bindMemory(to: Atomic<UInt64>.self, capacity: count)
        for i in 0..<count { (w + i).initialize(to: Atomic(0)) }
        self.words = w
    }

    deinit {
        words.deinitialize(count: capacity * 8)
        UnsafeMutableRawPointer(words).deallocate()
    }

    /// Bytes the table occupies: `capacity × bytesPerSlot`, fixed at creation.
    public var memoryFootprint: Int { capacity * ConnectionTable.bytesPerSlot }

    /// How many inserts returned `.full` since the table was created.
    public var fullInsertions: Int { fullCount.load(ordering: .relaxed) }

    // MARK: - Slot words

    @usableFromInline enum Slot {
        @inlinable static var empty: UInt64 { 0 }
        @inlinable static var tombstone: UInt64 { 1 }
        /// Claimed by an insert that is writing the key and value: skipped by everyone else.
        @inlinable static var claimed: UInt64 { 2 }
        /// Key and value written; the insert checks for a concurrent insert of the same key before going live.
        @inlinable static var pending: UInt64 { 3 }
        @inlinable static var live: UInt64 { 4 }
        /// An empty slot held by `clearTombstone(at:)` for two atomic steps: empty for lookups, not claimable.
        @inlinable static var held: UInt64 { 5 }
        @inlinable static var statusMask: UInt64 { 7 }
        /// Bits 16…31 of a header hold 16 bits of the key's hash (not those that chose the slot), so that most
        /// slots of other keys are passed over without reading their key words, and a concurrent insert can tell
        /// from a claimed slot's header whether it may be the same key.
        @inlinable static var fingerprintMask: UInt64 { 0xFFFF_0000 }
        /// The key's tag and fingerprint.
        @inlinable static var identityMask: UInt64 { 0xFFFF_FF08 }
        @inlinable static var generationUnit: UInt64 { 1 << 32 }
        @inlinable static var generationMask: UInt64 { 0xFFFF_FFFF_0000_0000 }
    }

    @inlinable @inline(__always)
    func loadRelaxed(_ i: Int) -> UInt64 { words[i].load(ordering: .relaxed) }

    @inlinable @inline(__always)
    func loadAcquire(_ i: Int) -> UInt64 { words[i].load(ordering: .acquiring) }

    @inlinable @inline(__always)
    func loadSequentiallyConsistent(_ i: Int) -> UInt64 { words[i].load(ordering: .sequentiallyConsistent) }

    @inlinable @inline(__always)
    func storeRelaxed(_ i: Int, _ value: UInt64) { words[i].store(value, ordering: .relaxed) }

    @inlinable @inline(__always)
    func storeRelease(_ i: Int, _ value: UInt64) { words[i].store(value, ordering: .releasing) }

    @inlinable @inline(__always)
    func compareExchange(_ i: Int, _ expected: UInt64, _ desired: UInt64) -> Bool {
        words[i].compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent).exchanged
    }

    /// A double-word compare-and-swap of (header, value word) of the slot at word index `b`.
    @inlinable @inline(__always)
    func compareExchangePair(_ b: Int, _ header: UInt64, _ word: UInt64, _ newHeader: UInt64, _ newWord: UInt64)
        -> Bool
    {
        let pair = UnsafeMutableRawPointer(words + b).assumingMemoryBound(to: Atomic<WordPair>.self)
        return pair.pointee.compareExchange(
            expected: WordPair(first: UInt(truncatingIfNeeded: header), second: UInt(truncatingIfNeeded: word)),
            desired: WordPair(first: UInt(truncatingIfNeeded: newHeader), second: UInt(truncatingIfNeeded: newWord)),
            ordering: .acquiringAndReleasing
        ).exchanged
    }

    /// The key's home slot, and its identity in a slot header (tag and fingerprint).
    @inlinable @inline(__always)
    func locate(_ key: ConnectionKey) -> (slot: Int, identity: UInt64) {
        let hash = key.hash(seed: seed)
        return (Int(truncatingIfNeeded: hash) & mask, key.tag | (hash >> 32) & Slot.fingerprintMask)
    }

    /// Whether the key words of the slot at word index `b` equal `key` (header tag compared by the caller).
    @inlinable @inline(__always)
    func keyWordsEqual(_ b: Int, _ key: ConnectionKey) -> Bool {
        let d = (loadRelaxed(b + 3) ^ key.ports) | (loadRelaxed(b + 4) ^ key.client0)
            | (loadRelaxed(b + 5) ^ key.client1) | (loadRelaxed(b + 6) ^ key.virtual0)
            | (loadRelaxed(b + 7) ^ key.virtual1)
        return d == 0
    }

    @inlinable @inline(__always)
    func keyAt(_ b: Int, header: UInt64) -> ConnectionKey {
        ConnectionKey(
            tag: header & ConnectionKey.tagMask, ports: loadRelaxed(b + 3), client0: loadRelaxed(b + 4),
            client1: loadRelaxed(b + 5), virtual0: loadRelaxed(b + 6), virtual1: loadRelaxed(b + 7))
    }

    /// The outcome of reading one slot for a key.
    @usableFromInline enum Probe {
        /// The slot holds another key, or nothing live.
        case other
        /// The slot changed while being read: read it again.
        case changed
        /// The slot holds the key live, with this value, under this header.
        case match(UInt64, ConnectionValue)
    }

    /// Reads the slot at word index `b`, whose header was `h` (status live or pending), for `key`.
    @inlinable @inline(__always)
    func probe(_ b: Int, _ h: UInt64, _ identity: UInt64, _ key: ConnectionKey) -> Probe {
        guard h & Slot.identityMask == identity, keyWordsEqual(b, key) else { return .other }
        let word = loadRelaxed(b + 1)
        let ids = loadRelaxed(b + 2)
        atomicMemoryFence(ordering: .acquiring)
        guard loadRelaxed(b) == h else { return .changed }
        return .match(h, ConnectionValue(ids: ids, word: word))
    }

    // MARK: - Lookup

    /// The value of the connection with this key, or nil if there is none or it has expired at `now`.
    /// Wait-free with respect to writers in practice: it retries a slot only when that slot changed while it was
    /// being read. No lock, no allocation, no write to shared memory.
    @inlinable @inline(__always)
    public func lookup(_ key: ConnectionKey, now: Timestamp) -> ConnectionValue? {
        let (home, identity) = locate(key)
        return lookup(key, home: home, identity: identity, header: loadAcquire(home &<< 3),
                      nowTick: ConnectionValue.nowTick(now))
    }

    /// The probe loop of a lookup, given the home slot's header already loaded (acquire) by the caller: the
    /// seqlock check below compares the slot's header with `header` after reading the slot, so a header loaded a
    /// little earlier (by `lookup(_:now:into:)`'s first pass) is as good as one loaded here.
    @inlinable @inline(__always)
    func lookup(_ key: ConnectionKey, home: Int, identity: UInt64, header: UInt64, nowTick: UInt64)
        -> ConnectionValue?
    {
        var slot = home
        var probes = probeLimit
        var h = header
        while probes > 0 {
            let b = slot &<< 3
            let status = h & Slot.statusMask
            if status == Slot.live {
                switch probe(b, h, identity, key) {
                case .match(_, let v): return v.isExpired(nowTick: nowTick) ? nil : v
                case .changed:
                    h = loadAcquire(b)
                    continue
                case .other: break
                }
            } else if status == Slot.empty || status == Slot.held {
                return nil
            }
            slot = (slot &+ 1) & mask
            probes &-= 1
            h = loadAcquire(slot &<< 3)
        }
        return nil
    }

    /// How many keys `lookup(_:now:into:)` and `prefetch(_:)` hash and touch before probing: enough independent
    /// memory accesses to keep a core's line-fill buffers (10–12 on current x86 cores) busy.
    @inlinable public static var batchWidth: Int { 16 }

    /// Looks up a burst of keys — the packets of one `recvmmsg`, say — and writes `values[i]` for `keys[i]`, as
    /// `lookup(_:now:)` would, returning the number found.
    ///
    /// Why a batch: a lookup in a large table is one cache miss (the key's home slot), and single lookups issued one
    /// after the other overlap poorly, because each probe loop ends in a branch on the loaded data that the CPU
    /// mispredicts now and then, discarding the loads it had started for the following keys. Here the keys are
    /// taken `batchWidth` at a time: first every key is hashed and its home slot's header loaded — independent loads
    /// with no branch on their results, which the CPU overlaps — and then each key is probed, finding its line in
    /// cache (the bulk lookup of DPDK's `rte_hash_lookup_bulk` works the same way, with prefetch instructions). The
    /// header loaded in the first pass is the seqlock version the second pass checks, so nothing is loaded twice
    /// and every value is read consistently, exactly as by `lookup(_:now:)`. No lock, no allocation.
    ///
    /// - Precondition: `values.count >= keys.count`.
    @inlinable
    public func lookup(
        _ keys: UnsafeBufferPointer<ConnectionKey>, now: Timestamp,
        into values: UnsafeMutableBufferPointer<ConnectionValue?>
    ) -> Int {
        precondition(values.count >= keys.count, "lookup(_:now:into:): fewer values than keys")
        guard let keyBase = keys.baseAddress, let valueBase = values.baseAddress else { return 0 }
        let nowTick = ConnectionValue.nowTick(now)
        let width = ConnectionTable.batchWidth
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 3 * ConnectionTable.batchWidth) { scratch in
            let homes = scratch.baseAddress!, identities = homes + width, headers = homes + 2 * width
            var found = 0
            var start = 0
            let count = keys.count
            while start < count {
                let n = min(width, count &- start)
                for i in 0..<n {
                    let (home, identity) = locate(keyBase[start &+ i])
                    homes[i] = UInt64(truncatingIfNeeded: home)
                    identities[i] = identity
                }
                // The loads in a loop of their own: a load that misses holds up the retirement of what follows it,
                // so with the hashing in between only a few of them would fit in the reorder buffer at once.
                for i in 0..<n { headers[i] = loadAcquire(Int(truncatingIfNeeded: homes[i]) &<< 3) }
                for i in 0..<n {
                    let v = lookup(
                        keyBase[start &+ i], home: Int(truncatingIfNeeded: homes[i]), identity: identities[i],
                        header: headers[i], nowTick: nowTick)
                    if v != nil { found &+= 1 }
                    (valueBase + (start &+ i)).initialize(to: v)
                }
                start &+= n
            }
            return found
        }
    }

    /// Loads the home slot's header of each key and discards it: a prefetch in plain Swift, for a caller about to
    /// insert, update, remove or look up these keys one by one (a burst of packets that mixes new flows, closing
    /// flows and lookups): the cache misses of the burst then overlap instead of coming one after another. Up to
    /// `batchWidth` keys at a time is useful; more only evicts the first ones again in a small cache. Changes
    /// nothing; no allocation.
    @inlinable
    public func prefetch(_ keys: UnsafeBufferPointer<ConnectionKey>) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ConnectionTable.batchWidth) { scratch in
            let homes = scratch.baseAddress!
            var rest = keys[...]
            while !rest.isEmpty {
                let n = min(ConnectionTable.batchWidth, rest.count)
                // Hash first, then load (as in lookup(_:now:into:)), so that the loads sit close together.
                for i in 0..<n { homes[i] = locate(rest[rest.startIndex &+ i]).slot }
                // A relaxed atomic load is never deleted by the optimiser, though its result is unused (LLVM treats
                // an atomic load stronger than `unordered` as a memory effect), so each load is really issued.
                for i in 0..<n { _ = loadRelaxed(homes[i] &<< 3) }
                rest = rest.dropFirst(n)
            }
        }
    }

    // MARK: - Insert

    /// Inserts a connection unless a live one with the same key exists; an expired one (at `now`) is removed and
    /// replaced. Lock-free; no allocation.
    @inlinable
    public func insert(_ key: ConnectionKey, _ value: ConnectionValue, now: Timestamp) -> ConnectionInsertResult {
        let nowTick = ConnectionValue.nowTick(now)
        let (home, identity) = locate(key)
        var replaced: ConnectionValue? = nil
        attempt: while true {
            // 1. Look for the key and for the first free slot of the window.
            var candidate = -1
            var candidateHeader: UInt64 = 0
            var slot = home
            var probes = probeLimit
            scan: while probes > 0 {
                let b = slot &<< 3
                let h = loadAcquire(b)
                switch h & Slot.statusMask {
                case Slot.empty:
                    if candidate < 0 {
                        candidate = slot
                        candidateHeader = h
                    }
                    break scan
                case Slot.held:
                    continue scan  // an empty slot held for two atomic steps by clearTombstone
                case Slot.tombstone:
                    if candidate < 0 {
                        candidate = slot
                        candidateHeader = h
                    }
                case Slot.live:
                    switch probe(b, h, identity, key) {
                    case .changed: continue scan
                    case .other: break
                    case .match(let mh, let v):
                        if !v.isExpired(nowTick: nowTick) {
                            if let r = replaced { return .removedExpired(expired: r, current: v) }
                            return .exists(v)
                        }
                        if compareExchangePair(b, mh, v.word, tombstone(mh), v.word) {
                            replaced = v
                            clearTombstone(at: slot)
                        }
                        continue scan  // read the slot again: it is a tombstone now (or changed)
                    }
                default:
                    break  // claimed or pending: another insert, sorted out in step 3
                }
                slot = (slot &+ 1) & mask
                probes &-= 1
            }
            guard candidate >= 0 else {
                fullCount.add(1, ordering: .relaxed)
                if let r = replaced { return .removedExpired(expired: r, current: nil) }
                return .full
            }
            // 2. Claim it, with our identity in the header. The claim and the header loads of step 3 are sequentially
            // consistent (on x86 a locked cmpxchg and plain loads): of two concurrent inserts of one key, the one
            // that claims second sees the first's claim (or what followed it) in step 3.
            let cb = candidate &<< 3
            let generation = (candidateHeader & Slot.generationMask) &+ Slot.generationUnit
            guard compareExchange(cb, candidateHeader, generation | identity | Slot.claimed) else { continue attempt }
            // 2b. Check that no slot between the home slot and ours is empty now. Step 1 saw them all occupied, but
            // one it had passed may have been removed and emptied since (clearTombstone empties a tombstone whose
            // next slot is empty): our entry would then sit behind an empty slot, out of reach of lookups, removals
            // and of step 3 and later inserts of the same key (which would insert it a second time). Walking back
            // from our slot makes one pass enough: a slot is emptied only while the slot after it is empty (held),
            // so the slot before ours, seen occupied, stays occupied while we hold ours; then so does the one
            // before it, and so on. Usually no slot or one, already in cache; nothing is written unless we withdraw.
            var back = candidate
            while back != home {
                back = (back &- 1) & mask
                let status = loadSequentiallyConsistent(back &<< 3) & Slot.statusMask
                if status == Slot.empty || status == Slot.held {
                    storeRelease(cb, tombstone(generation))  // withdraw, and look again from the home slot
                    clearTombstone(at: candidate)
                    continue attempt
                }
            }
            storeRelaxed(cb + 1, value.word)
            storeRelaxed(cb + 2, value.ids)
            storeRelaxed(cb + 3, key.ports)
            storeRelaxed(cb + 4, key.client0)
            storeRelaxed(cb + 5, key.client1)
            storeRelaxed(cb + 6, key.virtual0)
            storeRelaxed(cb + 7, key.virtual1)
            let pending = generation | identity | Slot.pending
            storeRelease(cb, pending)
            // 3. Look for another insert of the same key in the window (Purcell and Harris): a claimed slot with our
            // identity is waited for until its key is written (it waits for nobody); a pending one nearer to the
            // home slot wins over us; one farther away is waited for (it will see us and withdraw, or it went live
            // without seeing us and we withdraw).
            let ourDistance = (candidate &- home) & mask
            slot = home
            probes = probeLimit
            check: while probes > 0 {
                if slot != candidate {
                    let b = slot &<< 3
                    let h = loadSequentiallyConsistent(b)
                    let status = h & Slot.statusMask
                    if status == Slot.empty || status == Slot.held { break check }
                    if status == Slot.claimed && h & Slot.identityMask == identity {
                        while loadAcquire(b) == h {}
                        continue check
                    }
                    if status == Slot.live || status == Slot.pending {
                        switch probe(b, h, identity, key) {
                        case .changed: continue check
                        case .other: break
                        case .match(let mh, let v):
                            if status == Slot.live {
                                if v.isExpired(nowTick: nowTick) {
                                    if compareExchangePair(b, mh, v.word, tombstone(mh), v.word) { replaced = v }
                                    continue check
                                }
                                storeRelease(cb, tombstone(pending))  // it won: withdraw ours
                                if let r = replaced { return .removedExpired(expired: r, current: v) }
                                return .exists(v)
                            }
                            if (slot &- home) & mask < ourDistance {
                                storeRelease(cb, tombstone(pending))
                                while loadAcquire(b) == h {}  // until it goes live or withdraws
                                continue attempt
                            }
                            while loadAcquire(b) == h {}
                            continue check
                        }
                    }
                }
                slot = (slot &+ 1) & mask
                probes &-= 1
            }
            // 4. Go live: the insert takes effect here.
            storeRelease(cb, generation | identity | Slot.live)
            if let r = replaced { return .replacedExpired(r) }
            return .inserted
        }
    }

    @inlinable @inline(__always)
    func tombstone(_ header: UInt64) -> UInt64 { header & Slot.generationMask | Slot.tombstone }

    // MARK: - Update

    /// Changes the state, flags and expiry of a live, unexpired connection, atomically: `transform` gets the current
    /// value and returns the new one (or nil to leave it); if another update or a removal came in between, it is
    /// called again with the newer value. Changes of `destination` or `service` are ignored: they are fixed at
    /// insertion. Lock-free; no allocation.
    ///
    /// A protocol state machine applies a transition exactly once this way: the `.updated(old:new:)` it gets back
    /// is the only one that went from `old`.
    @inlinable
    public func update(
        _ key: ConnectionKey, now: Timestamp, _ transform: (ConnectionValue) -> ConnectionValue?
    ) -> ConnectionUpdateResult {
        let nowTick = ConnectionValue.nowTick(now)
        let (home, identity) = locate(key)
        var slot = home
        var probes = probeLimit
        while probes > 0 {
            let b = slot &<< 3
            let h = loadAcquire(b)
            let status = h & Slot.statusMask
            if status == Slot.live {
                switch probe(b, h, identity, key) {
                case .changed: continue
                case .other: break
                case .match(let mh, let v):
                    if v.isExpired(nowTick: nowTick) { return .notFound }
                    guard var n = transform(v) else { return .declined(v) }
                    n.ids = v.ids
                    if compareExchangePair(b, mh, v.word, mh, n.word) { return .updated(old: v, new: n) }
                    continue  // changed meanwhile: read it again
                }
            } else if status == Slot.empty || status == Slot.held {
                return .notFound
            }
            slot = (slot &+ 1) & mask
            probes &-= 1
        }
        return .notFound
    }

    /// Changes a live, unexpired connection's value from `expected` to `desired` (state, flags, expiry) if it is
    /// `expected` now; otherwise declines with the current value. Lock-free; no allocation.
    @inlinable
    public func compareAndUpdate(
        _ key: ConnectionKey, expected: ConnectionValue, desired: ConnectionValue, now: Timestamp
    ) -> ConnectionUpdateResult {
        var first = true
        return update(key, now: now) { current in
            // Called again only when the value changed between the read and the swap: then it is not `expected`.
            defer { first = false }
            return first && current == expected ? desired : nil
        }
    }

    // MARK: - Remove

    /// Removes the connection with this key, expired or not, and returns its value (nil if there was none).
    /// Exactly one of several concurrent removals of a connection gets its value. Lock-free; no allocation.
    @inlinable
    public func remove(_ key: ConnectionKey) -> ConnectionValue? {
        let (home, identity) = locate(key)
        var slot = home
        var probes = probeLimit
        while probes > 0 {
            let b = slot &<< 3
            let h = loadAcquire(b)
            let status = h & Slot.statusMask
            if status == Slot.live {
                switch probe(b, h, identity, key) {
                case .changed: continue
                case .other: break
                case .match(let mh, let v):
                    guard compareExchangePair(b, mh, v.word, tombstone(mh), v.word) else { continue }
                    clearTombstone(at: slot)
                    return v
                }
            } else if status == Slot.empty || status == Slot.held {
                return nil
            }
            slot = (slot &+ 1) & mask
            probes &-= 1
        }
        return nil
    }

    /// Turns the tombstone at `slot` back into an empty slot if the next slot is empty, and so on backwards, so
    /// that misses stop early and tombstones do not pile up. The next slot is *held* (claimable by no insert, empty
    /// for lookups) while the tombstone is cleared, then released with a new generation: an insert that saw it
    /// empty before must look again (otherwise it could claim it after the tombstone before it became empty, and
    /// its key would be cut off from its home slot).
    @usableFromInline
    func clearTombstone(at slot: Int) {
        guard mask > 0 else { return }
        var s = slot
        for _ in 0..<probeLimit {
            let b = s &<< 3
            let h = loadAcquire(b)
            guard h & Slot.statusMask == Slot.tombstone else { return }
            let nb = ((s &+ 1) & mask) &<< 3
            let hn = loadAcquire(nb)
            guard hn & Slot.statusMask == Slot.empty else { return }
            guard compareExchange(nb, hn, hn | Slot.held) else { return }
            let cleared = compareExchange(b, h, h & Slot.generationMask | Slot.empty)
            storeRelease(nb, (hn & Slot.generationMask) &+ Slot.generationUnit | Slot.empty)
            guard cleared else { return }
            s = (s &- 1) & mask
        }
    }

    // MARK: - Sweep and iteration

    /// Removes every connection that has expired at `now`, calling `removed` with each one's key and value (once
    /// per connection: a concurrent `remove` or `insert` that takes one gets it instead), and clears tombstones.
    /// Runs concurrently with lookups, inserts, updates and removals. Returns the number removed.
    @discardableResult
    public func sweep(now: Timestamp, removed: (ConnectionKey, ConnectionValue) -> Void = { _, _ in }) -> Int {
        sweep(now: now, slots: 0..<capacity, removed: removed)
    }

    /// `sweep(now:removed:)` over a range of slots only, for a timer that spreads the work (the kernel walks its
    /// table in steps too: ip_vs_conn.c `ip_vs_conn_expire_now`, and the `ip_vs_random_dropentry` walk).
    @discardableResult
    public func sweep(
        now: Timestamp, slots range: Range<Int>, removed: (ConnectionKey, ConnectionValue) -> Void = { _, _ in }
    ) -> Int {
        let nowTick = ConnectionValue.nowTick(now)
        let range = range.clamped(to: 0..<capacity)
        var count = 0
        var slot = range.lowerBound
        while slot < range.upperBound {
            let b = slot &<< 3
            let h = loadAcquire(b)
            switch h & Slot.statusMask {
            case Slot.live:
                guard let (key, v) = read(b, h) else { continue }  // changed: read again
                if v.isExpired(nowTick: nowTick) {
                    guard compareExchangePair(b, h, v.word, tombstone(h), v.word) else { continue }
                    removed(key, v)
                    count += 1
                    clearTombstone(at: slot)
                }
            case Slot.tombstone:
                clearTombstone(at: slot)
            default:
                break
            }
            slot += 1
        }
        return count
    }

    /// The key and value of the live slot at word index `b` read under header `h`, or nil if it changed.
    @usableFromInline
    func read(_ b: Int, _ h: UInt64) -> (ConnectionKey, ConnectionValue)? {
        let key = keyAt(b, header: h)
        let word = loadRelaxed(b + 1)
        let ids = loadRelaxed(b + 2)
        atomicMemoryFence(ordering: .acquiring)
        guard loadRelaxed(b) == h else { return nil }
        return (key, ConnectionValue(ids: ids, word: word))
    }

    /// Calls `body` with every live connection (expired ones included), each read consistently. Concurrent changes
    /// may or may not be seen: this is a walk, not a snapshot of the whole table.
    public func forEach(_ body: (ConnectionKey, ConnectionValue) throws -> Void) rethrows {
        var slot = 0
        while slot < capacity {
            let b = slot &<< 3
            let h = loadAcquire(b)
            if h & Slot.statusMask == Slot.live {
                guard let (key, v) = read(b, h) else { continue }
                try body(key, v)
            }
            slot += 1
        }
    }

    /// The number of live connections (expired ones included), by walking the table: O(capacity).
    public func count() -> Int {
        var n = 0
        forEach { _, _ in n += 1 }
        return n
    }

    /// Slot occupancy by status, by walking the table (for tests and diagnostics).
    public func occupancy() -> (live: Int, tombstones: Int, empty: Int) {
        var live = 0, tombstones = 0, empty = 0
        for slot in 0..<capacity {
            switch loadRelaxed(slot &<< 3) & Slot.statusMask {
            case Slot.live: live += 1
            case Slot.tombstone: tombstones += 1
            case Slot.empty, Slot.held: empty += 1
            default: break
            }
        }
        return (live, tombstones, empty)
    }
}
