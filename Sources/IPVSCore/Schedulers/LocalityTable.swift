/// The kernel's sysctls and set-up time for the lblc and lblcr tables.
public struct LocalityCacheSettings: Hashable, Sendable {
    /// `net.ipv4.vs.lblc_expiration` / `net.ipv4.vs.lblcr_expiration`, in seconds (`DEFAULT_EXPIRATION`: 24 h).
    /// lblc: an entry unused this long is dropped by the next full check; lblcr: additionally, a destination set
    /// not modified for longer than this loses its most loaded member on the next hit.
    public var expirationSeconds: UInt64
    /// When the scheduler was set up (`init_service`). The table's periodic timer fires every 60 s from here;
    /// by default callers measure `now` from the service's creation, so this is `.zero`.
    public var createdAt: Timestamp

    public static let defaultExpirationSeconds: UInt64 = 24 * 60 * 60

    /// The expiration in nanoseconds (saturating).
    var expirationNanoseconds: UInt64 {
        let (v, o) = expirationSeconds.multipliedReportingOverflow(by: 1_000_000_000)
        return o ? .max : v
    }

    public init(expirationSeconds: UInt64 = defaultExpirationSeconds, createdAt: Timestamp = .zero) {
        self.expirationSeconds = expirationSeconds
        self.createdAt = createdAt
    }
}

/// lblc's and lblcr's state: one final class per scheduler, copied on write. The `Scheduler` enum moves its payload
/// out and back for every pick; with the whole state (settings, table, load index) behind one reference that payload
/// is one pointer, and a pick checks one reference count before mutating. The class owns the table's raw storage,
/// so the copy is a deep one (`copy()`), not a shared one.
protocol LocalitySchedulerState: AnyObject {
    /// The `lblc(r)_expiration` sysctl and the set-up time.
    var settings: LocalityCacheSettings { get set }
    /// `settings.expirationNanoseconds`, kept beside it so that a pick does not recompute it.
    var expiration: UInt64 { get set }
    var load: LocalityLoadIndex { get set }
    /// Counts the additions and removals, the only changes that move servers in the list: a hint recorded at the
    /// current version still says where its server is, with no need to compare keys.
    var listVersion: UInt64 { get set }
    func copy() -> Self
}

extension LocalitySchedulerState {
    /// Makes `state` the only reference to its object, copying it first when it is shared.
    @inline(__always)
    static func ensureUnique(_ state: inout Self) {
        if !isKnownUniquelyReferenced(&state) { copy(&state) }
    }

    /// The rare half of `ensureUnique`, out of line so that a pick's code stays small.
    @inline(never)
    private static func copy(_ state: inout Self) { state = state.copy() }

    /// New settings, and the expiration kept beside them.
    func apply(_ newSettings: LocalityCacheSettings) {
        settings = newSettings
        expiration = newSettings.expirationNanoseconds
    }

    /// After a server was added to or removed from the list (`add_dest`, `del_dest`): servers moved, so the load
    /// index is rebuilt and every hint goes out of date.
    func listChanged(_ destinations: DestinationList) {
        load.rebuild(destinations)
        listVersion += 1
    }

    /// After server `index` changed in place (`upd_dest`, or its counters): nothing moved.
    func destinationChanged(at index: Int, _ destinations: DestinationList) {
        load.update(at: index, destinations)
    }
}

/// The per-service table lblc and lblcr keep (`struct ip_vs_lblc_table`, `struct ip_vs_lblcr_table`): entries keyed
/// by a packet's destination address, aged by a periodic timer.
///
/// The timer mirrors ip_vs_lblc.c `ip_vs_lblc_check_expire` / ip_vs_lblcr.c `ip_vs_lblcr_check_expire`: it fires every
/// `CHECK_EXPIRE_INTERVAL` (60 s); every 30th quiet firing (`COUNT_FOR_FULL_EXPIRATION`) is a full check
/// (`ip_vs_lblc_full_check`) that drops every entry unused for the expiration sysctl; a firing while the table holds
/// more than `max_size` (16 × 1024) entries instead drops entries unused for `ENTRY_TIMEOUT` (6 min), bucket by bucket
/// from the rover, until the goal is met — and does not advance the full-check counter.
///
/// Simplifications (documented in the schedulers): the timer fires exactly every 60 s from `createdAt` (the kernel's
/// timer wheel rounds a 60 s timer up by up to a few seconds, and each firing re-arms from its own late start);
/// times are nanoseconds rather than jiffies; a timer due at the very instant of a packet fires first.
///
/// Storage: chain heads and a pool of slots in raw memory the table owns (it is `~Copyable`, frees them in
/// `deinit`, and is duplicated only by `init(copying:)`), so a lookup hit — walk the chain, set `lastuse`, read the
/// value in place — reads and writes memory directly, with no copy-on-write check, no bounds check (debug builds
/// assert the bounds) and no copy of the value.
///
/// Chains: the kernel chains each of its 1024 buckets, so at 4096 entries a hit walks four entries on average, each a
/// dependent load from a table too large for the L1 cache. Here the chains split the kernel's buckets further: an
/// entry's chain is the top `chainBits` (10 or more) bits of the same 32-bit product whose top 10 bits are its kernel
/// bucket, so kernel bucket `b` is exactly chains `b << (chainBits - 10)` up to the next bucket's first, and
/// `chainBits` grows with the table to keep chains an eighth of an entry long on average. What the kernel does bucket
/// by bucket (the checks drop all idle entries of a bucket before looking at the goal) is done chain by chain over
/// the same entries; only the order within a bucket differs, and nothing depends on it.
struct LocalityTable<Value: Sendable>: ~Copyable {
    /// An entry as a whole, for inspection.
    struct Entry: Sendable {
        /// `en->addr`: the packet destination address this entry is for.
        var address: IPAddress
        var value: Value
        /// `en->lastuse`: set at creation and on every lookup hit.
        var lastUse: Timestamp
    }

    /// One slot of the pool, but for its value: an entry's key, chain and age, or a free slot on the free list.
    struct Slot {
        /// `en->addr`.
        var address: IPAddress
        /// Whether the slot holds an entry (and `values` an initialized value for it).
        var occupied: Bool
        /// The next slot of the entry's chain, or of the free list; -1 for none.
        var next: Int32
        /// `en->lastuse`: set at creation and on every lookup hit.
        var lastUse: Timestamp
    }

    /// Where an entry is: its slot in the pool.
    typealias Position = Int

    /// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS` (default `CONFIG_IP_VS_LBLC(R)_TAB_BITS` = 10).
    static var bucketBits: Int { 10 }
    static var bucketCount: Int { 1 << bucketBits }
    /// `tbl->max_size = IP_VS_LBLC_TAB_SIZE * 16`.
    static var maxSize: Int { bucketCount * 16 }
    /// `CHECK_EXPIRE_INTERVAL`: 60 s.
    static var checkInterval: UInt64 { 60 * 1_000_000_000 }
    /// `ENTRY_TIMEOUT`: 6 min, the idle time after which an over-full table may drop an entry.
    static var entryTimeout: UInt64 { 6 * 60 * 1_000_000_000 }
    /// `COUNT_FOR_FULL_EXPIRATION`.
    static var fullCheckPeriod: Int { 30 }
    /// Slots allocated by a new table.
    private static var initialCapacity: Int { 16 }

    /// The first slot of each chain (-1 for none), `1 << chainBits` of them: `tbl->bucket`, each bucket split in
    /// `1 << (chainBits - bucketBits)` chains (see above).
    private var heads: UnsafeMutablePointer<Int32>
    /// log2 of the number of chains: `bucketBits` or more.
    private var chainBits: Int { 32 - Int(chainShift) }
    /// `32 - chainBits`: a hash shifted right by this is its chain.
    private var chainShift = UInt32(32 - Self.bucketBits)
    /// The entry count at which the chains split: an eighth of the number of chains, so that a hit almost always
    /// finds its entry first on its chain (a second step is a branch the processor rarely predicts, and a dependent
    /// load), at 32 bytes of chain heads per entry.
    private var splitThreshold: Int { 1 << (chainBits - 3) }
    /// The pool the chains run through: `capacity` slots, of which the first `used` are initialized (entries or
    /// free slots). It grows by doubling and freed slots are reused, so adding an entry rarely allocates.
    private var slots: UnsafeMutablePointer<Slot>
    /// The value of each slot, beside the pool (`capacity` of them): initialized exactly for the occupied slots,
    /// so that it can be read and modified in place.
    private var values: UnsafeMutablePointer<Value>
    private var capacity: Int
    private var used = 0
    /// The first slot of the free list (-1 for none).
    private var free: Int32 = -1
    /// The number of entries in the table.
    private(set) var count = 0
    /// `tbl->entries` as the kernel counts it. lblc's replacement path (`ip_vs_lblc_new` deleting the old entry with
    /// `ip_vs_lblc_del`, which does not decrement) counts one more entry per replacement, so this can exceed
    /// `count`; it decides when the size-driven check runs.
    private(set) var countedEntries = 0
    /// `tbl->rover`: the bucket the last check stopped at.
    private(set) var rover = 0
    /// `tbl->counter`: quiet firings since the last full check (1…30).
    private(set) var counter = 1
    /// When the periodic timer fires next.
    private(set) var nextCheck: Timestamp

    init(createdAt: Timestamp) {
        heads = .allocate(capacity: Self.bucketCount)
        heads.initialize(repeating: -1, count: Self.bucketCount)
        capacity = Self.initialCapacity
        slots = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        nextCheck = Self.later(createdAt, by: Self.checkInterval)
    }

    /// A copy of `other` with storage of its own.
    init(copying other: borrowing LocalityTable) {
        chainShift = other.chainShift
        let chains = 1 << other.chainBits
        heads = .allocate(capacity: chains)
        heads.initialize(from: other.heads, count: chains)
        capacity = other.capacity
        slots = .allocate(capacity: capacity)
        slots.initialize(from: other.slots, count: other.used)
        values = .allocate(capacity: capacity)
        for slot in 0..<other.used where other.slots[slot].occupied {
            (values + slot).initialize(to: other.values[slot])
        }
        used = other.used
        free = other.free
        count = other.count
        countedEntries = other.countedEntries
        rover = other.rover
        counter = other.counter
        nextCheck = other.nextCheck
    }

    deinit {
        for slot in 0..<used where slots[slot].occupied { (values + slot).deinitialize(count: 1) }
        values.deallocate()
        slots.deinitialize(count: used)
        slots.deallocate()
        heads.deallocate()
    }

    /// The bucket the kernel hashes `address` into: `hash_32(ntohl(addr_fold), IP_VS_LBLC_TAB_BITS)`, the
    /// multiplicative hash by `GOLDEN_RATIO_32` keeping the top bits.
    @inline(__always)
    static func bucket(of address: IPAddress) -> Int {
        Int(hash(of: address) >> UInt32(32 - bucketBits))
    }

    /// The product `hash_32` takes its top bits from.
    @inline(__always)
    static func hash(of address: IPAddress) -> UInt32 { address.folded &* 0x61C8_8647 }

    /// The chain `address` is on: the top `chainBits` bits of its hash.
    @inline(__always)
    private func chain(of address: IPAddress) -> Int {
        Int(truncatingIfNeeded: Self.hash(of: address) &>> chainShift)
    }

    /// The chains of kernel bucket `b`.
    private func chains(ofBucket b: Int) -> Range<Int> {
        let shift = chainBits - Self.bucketBits
        return (b << shift)..<((b + 1) << shift)
    }

    @inline(__always)
    static func later(_ t: Timestamp, by nanoseconds: UInt64) -> Timestamp {
        let (v, o) = t.nanoseconds.addingReportingOverflow(nanoseconds)
        return Timestamp(nanoseconds: o ? .max : v)
    }

    // MARK: - Lookup and update (no allocation, no copy-on-write check on a hit)

    /// `ip_vs_lblc_get`: walks the address's chain.
    @inline(__always)
    func position(of address: IPAddress) -> Position? {
        var i = heads[chain(of: address)]
        while i >= 0 {
            let slot = Int(i)
            assert(slot < used, "chain runs outside the pool")
            if slots[slot].address == address { return slot }
            i = slots[slot].next
        }
        return nil
    }

    func entry(for address: IPAddress) -> Entry? {
        guard let p = position(of: address) else { return nil }
        return Entry(address: slots[p].address, value: values[p], lastUse: slots[p].lastUse)
    }

    /// A lookup hit: `en->lastuse = jiffies`.
    @inline(__always)
    mutating func touch(_ position: Position, now: Timestamp) {
        assert(position < used && slots[position].occupied, "not an entry")
        slots[position].lastUse = now
    }

    /// The value of the entry at `position`, in place.
    subscript(value position: Position) -> Value {
        @inline(__always) unsafeAddress {
            assert(position < used && slots[position].occupied, "not an entry")
            return UnsafePointer(values + position)
        }
        @inline(__always) unsafeMutableAddress {
            assert(position < used && slots[position].occupied, "not an entry")
            return values + position
        }
    }

    /// Adds an entry for an address that has none (`ip_vs_lblc_hash`: at the head of its chain, and counted).
    mutating func insert(_ value: consuming Value, for address: IPAddress, now: Timestamp) {
        if count >= splitThreshold { splitChains() }
        let b = chain(of: address)
        let slot: Int32
        if free >= 0 {
            slot = free
            free = slots[Int(slot)].next
            slots[Int(slot)] = Slot(address: address, occupied: true, next: heads[b], lastUse: now)
        } else {
            if used == capacity { grow() }
            slot = Int32(used)
            (slots + used).initialize(to: Slot(address: address, occupied: true, next: heads[b], lastUse: now))
            used += 1
        }
        (values + Int(slot)).initialize(to: value)
        heads[b] = slot
        count += 1
        countedEntries += 1
    }

    /// Doubles the number of chains, each splitting in two by the next bit of its entries' hashes.
    private mutating func splitChains() {
        let bits = chainBits + 1
        assert(bits < 32)
        let split = UnsafeMutablePointer<Int32>.allocate(capacity: 1 << bits)
        split.initialize(repeating: -1, count: 1 << bits)
        for slot in 0..<used where slots[slot].occupied {
            let d = Int(truncatingIfNeeded: Self.hash(of: slots[slot].address) &>> UInt32(32 - bits))
            slots[slot].next = split[d]
            split[d] = Int32(truncatingIfNeeded: slot)
        }
        heads.deallocate()
        heads = split
        chainShift -= 1
    }

    /// Doubles the pool. Only called with no free slot, so every slot is an entry and every value initialized.
    private mutating func grow() {
        assert(free < 0 && count == used, "growing a pool with free slots")
        let larger = UnsafeMutablePointer<Slot>.allocate(capacity: capacity * 2)
        larger.moveInitialize(from: slots, count: used)
        let largerValues = UnsafeMutablePointer<Value>.allocate(capacity: capacity * 2)
        largerValues.moveInitialize(from: values, count: used)
        slots.deallocate()
        values.deallocate()
        slots = larger
        values = largerValues
        capacity *= 2
    }

    /// lblc's replacement of an entry by a new one (`ip_vs_lblc_new`): the old one is unlinked without being
    /// uncounted, the new one is counted. (The new one goes to the head of the same chain; order within a chain
    /// does not matter, as a check always finishes the bucket it is in.)
    mutating func replace(at position: Position, with value: consuming Value, now: Timestamp) {
        assert(position < used && slots[position].occupied, "not an entry")
        values[position] = value
        slots[position].lastUse = now
        countedEntries += 1
    }

    /// Unlinks from kernel bucket `b` every entry idle since `cutoff` or earlier (`lastuse <= cutoff`); returns how
    /// many.
    private mutating func drop(inBucket b: Int, lastUsedAtOrBefore cutoff: Timestamp) -> Int {
        var gone = 0
        for c in chains(ofBucket: b) {
            var previous: Int32 = -1
            var i = heads[c]
            while i >= 0 {
                let slot = Int(i)
                let next = slots[slot].next
                if slots[slot].lastUse <= cutoff {
                    if previous < 0 { heads[c] = next } else { slots[Int(previous)].next = next }
                    slots[slot].next = free
                    slots[slot].occupied = false
                    (values + slot).deinitialize(count: 1)
                    free = i
                    gone += 1
                } else {
                    previous = i
                }
                i = next
            }
        }
        count -= gone
        countedEntries -= gone
        return gone
    }

    // MARK: - The periodic timer

    /// Runs every timer firing due at or before `now`, in order. Inline, it costs a pick one comparison; the
    /// firings themselves are out of line.
    @inline(__always)
    mutating func runTimers(until now: Timestamp, expirationNanoseconds: UInt64) {
        if nextCheck <= now { fireTimers(until: now, expirationNanoseconds: expirationNanoseconds) }
    }

    @inline(never)
    private mutating func fireTimers(until now: Timestamp, expirationNanoseconds: UInt64) {
        while nextCheck <= now {
            let firing = nextCheck
            if counter % Self.fullCheckPeriod == 0 {
                fullCheck(at: firing, expiration: expirationNanoseconds)
                counter = 1
                nextCheck = Self.later(firing, by: Self.checkInterval)
            } else if countedEntries <= Self.maxSize {
                // Quiet firings only count; nothing changes until the next full check, so jump to it (or past now).
                let due = (now.nanoseconds - firing.nanoseconds) / Self.checkInterval + 1
                let quiet = min(due, UInt64(Self.fullCheckPeriod - counter))
                counter += Int(quiet)
                nextCheck = Self.later(firing, by: quiet * Self.checkInterval)
            } else if !sizeCheck(at: firing) {
                // Nothing was old enough: the state is as before, so skip the firings that would find nothing either.
                nextCheck = firingAfterIdleEntries(from: firing, until: now)
            } else {
                nextCheck = Self.later(firing, by: Self.checkInterval)
            }
        }
    }

    /// ip_vs_lblc.c `ip_vs_lblc_full_check` / ip_vs_lblcr.c `ip_vs_lblcr_full_check`: drops every entry with
    /// `now >= lastuse + expiration`. It walks all buckets, so the rover ends where it started.
    private mutating func fullCheck(at now: Timestamp, expiration: UInt64) {
        guard count > 0 else { return }
        // lastuse + expiration <= now, i.e. lastuse <= now - expiration (nothing when now < expiration).
        guard now.nanoseconds >= expiration else { return }
        let cutoff = Timestamp(nanoseconds: now.nanoseconds - expiration)
        for b in 0..<Self.bucketCount {
            _ = drop(inBucket: b, lastUsedAtOrBefore: cutoff)
        }
    }

    /// The size-driven part of `ip_vs_lblc_check_expire`: drops entries idle for `ENTRY_TIMEOUT`, whole buckets at a
    /// time from the one after the rover, until `goal` entries went. Returns whether anything was dropped.
    private mutating func sizeCheck(at now: Timestamp) -> Bool {
        var goal = (countedEntries - Self.maxSize) * 4 / 3
        if goal > Self.maxSize / 2 { goal = Self.maxSize / 2 }
        var dropped = false
        var j = rover
        let idle = now.nanoseconds >= Self.entryTimeout
        let cutoff = Timestamp(nanoseconds: idle ? now.nanoseconds - Self.entryTimeout : 0)
        for _ in 0..<Self.bucketCount {
            j = (j + 1) & (Self.bucketCount - 1)
            if idle {
                let gone = drop(inBucket: j, lastUsedAtOrBefore: cutoff)
                goal -= gone
                dropped = dropped || gone > 0
            }
            if goal <= 0 { break }
        }
        rover = j
        return dropped
    }

    /// After a size check that dropped nothing: the first firing at which some entry will have been idle for
    /// `ENTRY_TIMEOUT`, or the first firing after `now` when the table is empty. (Between two calls entries are
    /// only added or used, which can only make them eligible later, never earlier.)
    private func firingAfterIdleEntries(from firing: Timestamp, until now: Timestamp) -> Timestamp {
        let next = Self.later(firing, by: Self.checkInterval)
        var oldest: Timestamp? = nil
        for slot in 0..<used where slots[slot].occupied {
            let lastUse = slots[slot].lastUse
            if oldest == nil || lastUse < oldest! { oldest = lastUse }
        }
        guard let oldest else {
            let steps = (now.nanoseconds - firing.nanoseconds) / Self.checkInterval + 1
            return Self.later(firing, by: steps * Self.checkInterval)
        }
        let eligible = Self.later(oldest, by: Self.entryTimeout)
        guard eligible > next else { return next }
        let steps = (eligible.nanoseconds - firing.nanoseconds + Self.checkInterval - 1) / Self.checkInterval
        return Self.later(firing, by: steps * Self.checkInterval)
    }
}

/// What lblc and lblcr share with each other and with no other scheduler: the kernel's weighted least-connection
/// pick over the whole list and its `is_overloaded`, kept current through the scheduler hooks.
///
/// The kernel scans the list on every pick; the pick here is the winner of a tournament tree (O(1) to read,
/// O(log N) per counter change), and `is_overloaded` reads a count, which gives the same answers because:
/// - the scan's first stage takes the first destination not flagged overloaded with weight > 0, and the second
///   replaces it on a strictly better `loh * w(d) > doh * w(least)`: a leftmost minimum of overhead/weight among
///   those destinations — except that the second stage does not skip weight 0, and a weight-0 destination whose
///   32-bit overhead wrapped negative wins there (`0 > doh * w(least)`). While any such destination exists the
///   literal scan is used;
/// - `is_overloaded` asks whether any destination has `activeconns * 2 < weight`; that count is kept per change.
/// Debug builds check both against the literal versions on every use.
struct LocalityLoadIndex: Sendable {
    struct Key: Sendable {
        var overhead: Int64
        var weight: Int64
        var eligible: Bool
    }

    enum Policy: TournamentPolicy {
        static func key(of d: DestinationState) -> Key {
            Key(overhead: LocalityLoadIndex.overhead(d), weight: Int64(d.weight),
                eligible: !d.overloaded && d.weight > 0)
        }
        static func isEligible(_ k: Key) -> Bool { k.eligible }
        static func rightWins(_ l: Key, _ r: Key) -> Bool { l.overhead * r.weight > r.overhead * l.weight }
    }

    private var tree: TournamentTree<Policy>
    /// Per destination: `activeconns * 2 < weight` (someone is under half its weight).
    private var underHalf: [Bool]
    private var underHalfCount = 0
    /// Per destination: weight 0, not flagged overloaded, overhead wrapped negative (the scan's weight-0 quirk).
    private var quirk: [Bool]
    private var quirkCount = 0

    init(_ destinations: DestinationList) {
        tree = TournamentTree(destinations)
        underHalf = []
        quirk = []
        recount(destinations)
    }

    /// After a destination was added or removed (indices shifted).
    mutating func rebuild(_ destinations: DestinationList) {
        tree.rebuild(destinations)
        recount(destinations)
    }

    /// After destination `index` changed (weight, thresholds, counters, overload flag).
    mutating func update(at index: Int, _ destinations: DestinationList) {
        let d = destinations[index]
        tree.update(at: index, d)
        let u = Self.isUnderHalf(d)
        if u != underHalf[index] {
            underHalf[index] = u
            underHalfCount += u ? 1 : -1
        }
        let q = Self.isQuirk(d)
        if q != quirk[index] {
            quirk[index] = q
            quirkCount += q ? 1 : -1
        }
    }

    private mutating func recount(_ destinations: DestinationList) {
        underHalf = destinations.map(Self.isUnderHalf)
        quirk = destinations.map(Self.isQuirk)
        underHalfCount = underHalf.lazy.filter { $0 }.count
        quirkCount = quirk.lazy.filter { $0 }.count
    }

    @inline(__always)
    private static func isUnderHalf(_ d: DestinationState) -> Bool { d.activeConnections &* 2 < d.weight }

    @inline(__always)
    private static func isQuirk(_ d: DestinationState) -> Bool { d.weight == 0 && !d.overloaded && overhead(d) < 0 }

    /// ip_vs_lblc.c `__ip_vs_lblc_schedule` / ip_vs_lblcr.c `__ip_vs_lblcr_schedule`.
    @inline(__always)
    func leastLoaded(in destinations: DestinationList) -> Int? {
        let picked = quirkCount > 0 ? Self.scanLeastLoaded(in: destinations) : tree.winner
        assert(picked == Self.scanLeastLoaded(in: destinations), "lblc/lblcr index out of step with the list")
        return picked
    }

    /// The `is_overloaded` of ip_vs_lblc.c and ip_vs_lblcr.c (not the `IP_VS_DEST_F_OVERLOAD` flag).
    @inline(__always)
    func isOverloaded(_ d: DestinationState, in destinations: DestinationList) -> Bool {
        let overloaded = d.activeConnections > d.weight && underHalfCount > 0
        assert(overloaded == Self.scanIsOverloaded(d, in: destinations), "lblc/lblcr index out of step with the list")
        return overloaded
    }

    /// include/net/ip_vs.h `ip_vs_dest_conn_overhead` (6.1.192), in the kernel's `int` arithmetic:
    /// `(activeconns << 8) + totalconns` wraps at 32 bits, and the schedulers compare the wrapped values.
    @inline(__always)
    static func overhead(_ d: DestinationState) -> Int64 {
        Int64(Int32(truncatingIfNeeded: Int64(d.activeConnections) << 8 &+ d.totalConnections))
    }

    /// `__ip_vs_lblc_schedule` as the kernel writes it. The first stage takes the first destination that is not
    /// flagged overloaded and has a positive weight; the second compares `loh * w(d) > doh * w(least)` for every
    /// later destination not flagged overloaded — without re-checking the weight — so ties go to the earlier one.
    static func scanLeastLoaded(in destinations: DestinationList) -> Int? {
        var i = destinations.startIndex
        var least = -1
        var loh: Int64 = 0
        while i < destinations.endIndex {
            let d = destinations[i]
            i += 1
            if d.overloaded { continue }
            if d.weight > 0 {
                least = i - 1
                loh = overhead(d)
                break
            }
        }
        guard least >= 0 else { return nil }
        var leastWeight = Int64(destinations[least].weight)
        while i < destinations.endIndex {
            let d = destinations[i]
            if !d.overloaded {
                let doh = overhead(d)
                if loh * Int64(d.weight) > doh * leastWeight {
                    least = i
                    loh = doh
                    leastWeight = Int64(d.weight)
                }
            }
            i += 1
        }
        return least
    }

    /// `is_overloaded` as the kernel writes it: more active connections than its weight while some destination of
    /// the list (any, itself included, flagged overloaded or not) has fewer than half its weight in active ones.
    static func scanIsOverloaded(_ d: DestinationState, in destinations: DestinationList) -> Bool {
        guard d.activeConnections > d.weight else { return false }
        for other in destinations where other.activeConnections &* 2 < other.weight { return true }
        return false
    }
}
