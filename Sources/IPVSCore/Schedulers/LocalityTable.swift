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

/// A scheduler's state behind one reference, copied on write. The `Scheduler` enum moves its payload out and back
/// for every pick; with the state boxed that is one pointer rather than every buffer of the table and the index.
final class LocalityStateBox<Value: Sendable>: @unchecked Sendable {
    // Value semantics: the box is only mutated when uniquely referenced (`ensureUnique`), else it is copied first.
    @exclusivity(unchecked) var value: Value
    init(_ value: Value) { self.value = value }
}

extension LocalityStateBox {
    @inline(__always)
    static func ensureUnique(_ box: inout LocalityStateBox<Value>) {
        if !isKnownUniquelyReferenced(&box) { box = LocalityStateBox(box.value) }
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
struct LocalityTable<Value: Sendable>: Sendable {
    /// An entry as a whole, for inspection.
    struct Entry: Sendable {
        /// `en->addr`: the packet destination address this entry is for.
        var address: IPAddress
        var value: Value
        /// `en->lastuse`: set at creation and on every lookup hit.
        var lastUse: Timestamp
    }

    /// The chain part of a slot: its address and the next slot of its chain (or of the free list).
    struct Link: Sendable {
        var address: IPAddress
        var next: Int32
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

    /// `tbl->bucket`: the first slot of each hash chain (-1 for none). Entries are hashed as the kernel hashes them
    /// (`bucket(of:)`) and added at the head of their chain (`hlist_add_head_rcu`), so the size-driven check walks
    /// them in the kernel's order. The chains run through a pool of slots, kept as parallel arrays (the walk reads
    /// only `links`) that grow by doubling and reuse freed slots, so adding an entry rarely allocates and a copy of
    /// the table is a few buffers.
    private(set) var heads: [Int32]
    private var links: [Link] = []
    /// `en->lastuse` per slot: set at creation and on every lookup hit.
    private var lastUses: [Timestamp] = []
    /// The entry's value per slot; nil for a free slot.
    private var values: [Value?] = []
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
        heads = [Int32](repeating: -1, count: Self.bucketCount)
        nextCheck = Self.later(createdAt, by: Self.checkInterval)
    }

    /// The bucket the kernel hashes `address` into: `hash_32(ntohl(addr_fold), IP_VS_LBLC_TAB_BITS)`, the
    /// multiplicative hash by `GOLDEN_RATIO_32` keeping the top bits.
    @inline(__always)
    static func bucket(of address: IPAddress) -> Int {
        Int((address.folded &* 0x61C8_8647) >> UInt32(32 - bucketBits))
    }

    @inline(__always)
    static func later(_ t: Timestamp, by nanoseconds: UInt64) -> Timestamp {
        let (v, o) = t.nanoseconds.addingReportingOverflow(nanoseconds)
        return Timestamp(nanoseconds: o ? .max : v)
    }

    // MARK: - Lookup and update (no allocation on a hit)

    /// `ip_vs_lblc_get`: walks the address's chain.
    @inline(__always)
    func position(of address: IPAddress) -> Position? {
        var i = heads[Self.bucket(of: address)]
        while i >= 0 {
            let link = links[Int(i)]
            if link.address == address { return Int(i) }
            i = link.next
        }
        return nil
    }

    func entry(for address: IPAddress) -> Entry? {
        position(of: address).map { Entry(address: links[$0].address, value: values[$0]!, lastUse: lastUses[$0]) }
    }

    /// A lookup hit: `en->lastuse = jiffies`.
    @inline(__always)
    mutating func touch(_ position: Position, now: Timestamp) { lastUses[position] = now }

    /// The value of the entry at `position`.
    subscript(value position: Position) -> Value {
        @inline(__always) get { values[position]! }
        @inline(__always) _modify { yield &values[position]! }
    }

    /// Adds an entry for an address that has none (`ip_vs_lblc_hash`: at the head of its chain, and counted).
    mutating func insert(_ value: Value, for address: IPAddress, now: Timestamp) {
        let b = Self.bucket(of: address)
        let slot: Int32
        if free >= 0 {
            slot = free
            let s = Int(slot)
            free = links[s].next
            links[s] = Link(address: address, next: heads[b])
            lastUses[s] = now
            values[s] = value
        } else {
            slot = Int32(links.count)
            links.append(Link(address: address, next: heads[b]))
            lastUses.append(now)
            values.append(value)
        }
        heads[b] = slot
        count += 1
        countedEntries += 1
    }

    /// lblc's replacement of an entry by a new one (`ip_vs_lblc_new`): the old one is unlinked without being
    /// uncounted, the new one is counted. (The new one goes to the head of the same chain; order within a chain
    /// does not matter, as a check always finishes the bucket it is in.)
    mutating func replace(at position: Position, with value: Value, now: Timestamp) {
        values[position] = value
        lastUses[position] = now
        countedEntries += 1
    }

    /// Unlinks from bucket `b` every entry idle since `cutoff` or earlier (`lastuse <= cutoff`); returns how many.
    private mutating func drop(inBucket b: Int, lastUsedAtOrBefore cutoff: Timestamp) -> Int {
        var gone = 0
        var previous: Int32 = -1
        var i = heads[b]
        while i >= 0 {
            let slot = Int(i)
            let next = links[slot].next
            if lastUses[slot] <= cutoff {
                if previous < 0 { heads[b] = next } else { links[Int(previous)].next = next }
                links[slot].next = free
                values[slot] = nil
                free = i
                gone += 1
            } else {
                previous = i
            }
            i = next
        }
        count -= gone
        countedEntries -= gone
        return gone
    }

    // MARK: - The periodic timer

    /// Runs every timer firing due at or before `now`, in order.
    mutating func runTimers(until now: Timestamp, expirationNanoseconds: UInt64) {
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
        for b in 0..<Self.bucketCount where heads[b] >= 0 {
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
            if idle && heads[j] >= 0 {
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
        for (slot, lastUse) in lastUses.enumerated() where values[slot] != nil {
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

    /// ip_vs.h `ip_vs_dest_conn_overhead`, in the kernel's `int` arithmetic: `(activeconns << 8) + inactconns`
    /// wraps at 32 bits, and the schedulers compare the wrapped values.
    @inline(__always)
    static func overhead(_ d: DestinationState) -> Int64 {
        Int64(Int32(truncatingIfNeeded: Int64(d.activeConnections) << 8 &+ Int64(d.inactiveConnections)))
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
