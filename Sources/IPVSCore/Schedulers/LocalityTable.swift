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
    struct Entry: Sendable {
        /// `en->addr`: the packet destination address this entry is for.
        var address: IPAddress
        var value: Value
        /// `en->lastuse`: set at creation and on every lookup hit.
        var lastUse: Timestamp
    }

    /// Where an entry is: its bucket and its place in the bucket's chain.
    struct Position: Sendable {
        var bucket: Int
        var slot: Int
    }

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

    /// `tbl->bucket`: the kernel's chained hash table, hashed as the kernel hashes (see `bucket(of:)`), so that the
    /// size-driven check walks entries in the kernel's bucket order. Order within a chain does not matter: a check
    /// always finishes the bucket it is in.
    private(set) var buckets: [[Entry]]
    /// The number of entries in `buckets`.
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
        buckets = [[Entry]](repeating: [], count: Self.bucketCount)
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

    /// `ip_vs_lblc_get`.
    @inline(__always)
    func position(of address: IPAddress) -> Position? {
        let b = Self.bucket(of: address)
        let chain = buckets[b]
        var s = 0
        while s < chain.count {
            if chain[s].address == address { return Position(bucket: b, slot: s) }
            s += 1
        }
        return nil
    }

    func entry(for address: IPAddress) -> Entry? {
        position(of: address).map { buckets[$0.bucket][$0.slot] }
    }

    subscript(position: Position) -> Entry {
        @inline(__always) get { buckets[position.bucket][position.slot] }
        @inline(__always) _modify { yield &buckets[position.bucket][position.slot] }
    }

    /// Adds an entry for an address that has none (`ip_vs_lblc_hash`: hashed and counted).
    mutating func insert(_ value: Value, for address: IPAddress, now: Timestamp) {
        buckets[Self.bucket(of: address)].append(Entry(address: address, value: value, lastUse: now))
        count += 1
        countedEntries += 1
    }

    /// lblc's replacement of an entry by a new one (`ip_vs_lblc_new`): the old one is unlinked without being
    /// uncounted, the new one is counted.
    mutating func replace(at position: Position, with value: Value, now: Timestamp) {
        self[position].value = value
        self[position].lastUse = now
        countedEntries += 1
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
        for b in 0..<Self.bucketCount where !buckets[b].isEmpty {
            let before = buckets[b].count
            buckets[b].removeAll { Self.later($0.lastUse, by: expiration) <= now }
            count -= before - buckets[b].count
            countedEntries -= before - buckets[b].count
        }
    }

    /// The size-driven part of `ip_vs_lblc_check_expire`: drops entries idle for `ENTRY_TIMEOUT`, whole buckets at a
    /// time from the one after the rover, until `goal` entries went. Returns whether anything was dropped.
    private mutating func sizeCheck(at now: Timestamp) -> Bool {
        var goal = (countedEntries - Self.maxSize) * 4 / 3
        if goal > Self.maxSize / 2 { goal = Self.maxSize / 2 }
        var dropped = false
        var j = rover
        for _ in 0..<Self.bucketCount {
            j = (j + 1) & (Self.bucketCount - 1)
            if !buckets[j].isEmpty {
                let before = buckets[j].count
                buckets[j].removeAll { Self.later($0.lastUse, by: Self.entryTimeout) <= now }
                let gone = before - buckets[j].count
                count -= gone
                countedEntries -= gone
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
        for chain in buckets {
            for e in chain where oldest == nil || e.lastUse < oldest! { oldest = e.lastUse }
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

/// What lblc and lblcr share with each other and with no other scheduler.
enum LocalityScheduling {
    /// ip_vs.h `ip_vs_dest_conn_overhead`, in the kernel's `int` arithmetic: `(activeconns << 8) + inactconns`
    /// wraps at 32 bits, and the schedulers compare the wrapped values.
    @inline(__always)
    static func overhead(_ d: DestinationState) -> Int64 {
        Int64(Int32(truncatingIfNeeded: Int64(d.activeConnections) << 8 &+ Int64(d.inactiveConnections)))
    }

    /// ip_vs_lblc.c `__ip_vs_lblc_schedule` (and ip_vs_lblcr.c `__ip_vs_lblcr_schedule`, identical): weighted least
    /// connection over the whole list. The first stage takes the first destination that is not overloaded and has a
    /// positive weight; the second compares `loh * w(d) > doh * w(least)` for every later destination that is not
    /// overloaded — without re-checking the weight — so ties go to the earlier destination in list order.
    static func leastLoaded(in destinations: DestinationList) -> Int? {
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

    /// The `is_overloaded` of ip_vs_lblc.c and ip_vs_lblcr.c (not the `IP_VS_DEST_F_OVERLOAD` flag): more active
    /// connections than its weight while some destination of the list (any, itself included, overloaded or not) has
    /// fewer than half its weight in active connections.
    static func isOverloaded(_ d: DestinationState, in destinations: DestinationList) -> Bool {
        guard d.activeConnections > d.weight else { return false }
        for other in destinations where other.activeConnections &* 2 < other.weight { return true }
        return false
    }
}
