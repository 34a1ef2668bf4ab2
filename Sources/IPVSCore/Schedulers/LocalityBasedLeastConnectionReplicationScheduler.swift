/// lblcr, Locality-Based Least-Connection with Replication: net/netfilter/ipvs/ip_vs_lblcr.c.
///
/// Each destination address a packet is sent to is mapped to a *set* of real servers. A hit picks the weighted
/// least-connection member of the set; when there is none, or it is `is_overloaded`, the weighted least-connection
/// server of the whole service is picked and added to the set (`ip_vs_lblcr_schedule`):
///
/// - the set (`struct ip_vs_dest_set`): its members, each new one added at the head of the set (`list_add_rcu` in
///   `ip_vs_dest_set_insert`; the order decides ties), and `lastmod`, set whenever a member is added or erased.
///   Members hold a reference to the server, so a deleted server stays a member (and counts in
///   `ip_vs_dest_set_max`) and is usable again when re-added;
/// - `ip_vs_dest_set_min`: the first member not flagged overloaded with weight > 0 that is in the list
///   (`IP_VS_DEST_F_AVAILABLE`), then any later member not flagged overloaded, in the list, with
///   `loh * w(d) > doh * w(least)` (ties stay with the earlier member);
/// - `ip_vs_dest_set_max`: the first member with weight > 0 — in the list or not — then any later member with
///   `moh * w(d) < doh * w(most)` and weight > 0 (ties stay with the earlier member);
/// - the shrink: on a hit, when the set has more than one member and `now > lastmod + lblcr_expiration`, the
///   `ip_vs_dest_set_max` member is erased — after the minimum was chosen, so the server returned may be the one just
///   erased;
/// - expiry of whole entries: as lblc's (see `LocalityTable`), with `lblcr_expiration`.
///
/// Simplified as lblc (see `LocalityBasedLeastConnectionScheduler`). A deleted member's weight, flag and counters are
/// those it had when it was deleted, updated by `trashedCountersChanged` as its connections end.
public struct LocalityBasedLeastConnectionReplicationScheduler: SchedulingAlgorithm {
    /// A set member (`struct ip_vs_dest_set_elem`): the server, and where it stood in the list when last seen (a
    /// hint that saves a lookup).
    struct Member: Sendable {
        var key: DestinationKey
        var indexHint: Int
    }

    /// `struct ip_vs_dest_set`.
    struct DestinationSet: Sendable {
        /// Head first, as the kernel walks `set->list`.
        var members: [Member]
        /// `set->lastmod`.
        var lastModified: Timestamp
    }

    /// `struct ip_vs_lblcr_table`, the load index and the deleted members' state, behind one reference (see
    /// `LocalityStateBox`).
    struct State: Sendable {
        var table: LocalityTable<DestinationSet>
        var load: LocalityLoadIndex
        /// Deleted servers as they were when deleted (the kernel's trash keeps the same `struct ip_vs_dest`), for set
        /// members that are no longer in the list.
        var trashed: [DestinationKey: DestinationState] = [:]

        mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp,
                               expiration: UInt64) -> Int? {
            table.runTimers(until: now, expirationNanoseconds: expiration)
            let address = flow.destinationAddress
            guard let position = table.position(of: address) else {
                // No entry: pick and create one (`ip_vs_lblcr_new`).
                guard let picked = load.leastLoaded(in: destinations) else { return nil }
                let set = DestinationSet(members: [Member(key: destinations[picked].key, indexHint: picked)],
                                         lastModified: now)
                table.insert(set, for: address, now: now)
                return picked
            }
            table.touch(position, now: now)
            let (least, hintsStale) = Self.setMin(table[value: position].members, in: destinations)
            if hintsStale { Self.refreshHints(&table[value: position].members, in: destinations) }
            if table[value: position].members.count > 1
                && now > LocalityTable<DestinationSet>.later(table[value: position].lastModified, by: expiration)
            {
                // "More than one destination + enough time passed by, cleanup": erase the most loaded member.
                if let most = setMax(table[value: position].members, in: destinations) {
                    table[value: position].members.remove(at: most)
                    table[value: position].lastModified = now
                }
            }
            if let least, !load.isOverloaded(destinations[least], in: destinations) { return least }
            guard let picked = load.leastLoaded(in: destinations) else { return nil }
            let key = destinations[picked].key
            // `ip_vs_dest_set_insert(set, dest, true)`: only if not a member yet; a new member goes to the head.
            if !table[value: position].members.contains(where: { $0.key == key }) {
                table[value: position].members.insert(Member(key: key, indexHint: picked), at: 0)
                table[value: position].lastModified = now
            }
            return picked
        }

        /// The member's index in the list, or nil when it is not in the list (in the kernel's trash: not
        /// `IP_VS_DEST_F_AVAILABLE`); `stale` is set when it is in the list elsewhere than its hint says.
        @inline(__always)
        static func locate(_ member: Member, in destinations: DestinationList, stale: inout Bool) -> Int? {
            let hint = member.indexHint
            if hint < destinations.count && destinations[hint].key == member.key { return hint }
            guard let i = destinations.index(of: member.key) else { return nil }
            stale = true
            return i
        }

        static func refreshHints(_ members: inout [Member], in destinations: DestinationList) {
            for m in members.indices {
                if let i = destinations.index(of: members[m].key) { members[m].indexHint = i }
            }
        }

        /// ip_vs_lblcr.c `ip_vs_dest_set_min`: the index in `destinations` of the weighted least-connection member;
        /// and whether some member's hint needs refreshing.
        static func setMin(_ members: [Member], in destinations: DestinationList) -> (Int?, Bool) {
            var stale = false
            var m = 0
            var least = -1
            var loh: Int64 = 0
            while m < members.count {
                let i = locate(members[m], in: destinations, stale: &stale)
                m += 1
                // A member not in the list is not AVAILABLE: skipped whether or not it is flagged overloaded.
                guard let i else { continue }
                let d = destinations[i]
                if d.overloaded { continue }
                if d.weight > 0 {
                    least = i
                    loh = LocalityLoadIndex.overhead(d)
                    break
                }
            }
            guard least >= 0 else { return (nil, stale) }
            var leastWeight = Int64(destinations[least].weight)
            while m < members.count {
                defer { m += 1 }
                guard let i = locate(members[m], in: destinations, stale: &stale) else { continue }
                let d = destinations[i]
                if d.overloaded { continue }
                let doh = LocalityLoadIndex.overhead(d)
                if loh * Int64(d.weight) > doh * leastWeight {
                    least = i
                    loh = doh
                    leastWeight = Int64(d.weight)
                }
            }
            return (least, stale)
        }

        /// ip_vs_lblcr.c `ip_vs_dest_set_max`: the position in `members` of the weighted most-connection member.
        /// Members no longer in the list count too, with their state from the trash.
        func setMax(_ members: [Member], in destinations: DestinationList) -> Int? {
            var m = 0
            var most = -1
            var moh: Int64 = 0
            var mostWeight: Int64 = 0
            while m < members.count {
                let d = state(of: members[m].key, in: destinations)
                m += 1
                if let d, d.weight > 0 {
                    most = m - 1
                    moh = LocalityLoadIndex.overhead(d)
                    mostWeight = Int64(d.weight)
                    break
                }
            }
            guard most >= 0 else { return nil }
            while m < members.count {
                defer { m += 1 }
                guard let d = state(of: members[m].key, in: destinations) else { continue }
                let doh = LocalityLoadIndex.overhead(d)
                if moh * Int64(d.weight) < doh * mostWeight && d.weight > 0 {
                    most = m
                    moh = doh
                    mostWeight = Int64(d.weight)
                }
            }
            return most
        }

        @inline(__always)
        private func state(of key: DestinationKey, in destinations: DestinationList) -> DestinationState? {
            if let i = destinations.index(of: key) { return destinations[i] }
            return trashed[key]
        }
    }

    public var settings: LocalityCacheSettings
    private var state: LocalityStateBox<State>

    public init(destinations: DestinationList, flags: ServiceFlags) {
        self.init(destinations: destinations, flags: flags, settings: LocalityCacheSettings())
    }

    /// `ip_vs_lblcr_init_svc`, with the `lblcr_expiration` sysctl and the set-up time given.
    public init(destinations: DestinationList, flags: ServiceFlags, settings: LocalityCacheSettings) {
        self.settings = settings
        state = LocalityStateBox(State(table: LocalityTable(createdAt: settings.createdAt),
                                       load: LocalityLoadIndex(destinations)))
    }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        LocalityStateBox.ensureUnique(&state)
        state.value.load.rebuild(destinations)
        state.value.trashed[destinations[index].key] = nil
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        LocalityStateBox.ensureUnique(&state)
        state.value.load.rebuild(destinations)
        state.value.trashed[removed.key] = removed
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        LocalityStateBox.ensureUnique(&state)
        state.value.load.update(at: index, destinations)
    }

    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {
        LocalityStateBox.ensureUnique(&state)
        state.value.load.update(at: index, destinations)
    }

    public mutating func trashedCountersChanged(_ trashedState: DestinationState) {
        guard state.value.trashed[trashedState.key] != nil else { return }
        LocalityStateBox.ensureUnique(&state)
        state.value.trashed[trashedState.key] = trashedState
    }

    /// ip_vs_lblcr.c `ip_vs_lblcr_schedule`. A hit whose set has a usable member does not allocate.
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        LocalityStateBox.ensureUnique(&state)
        return state.value.schedule(flow, in: destinations, now: now, expiration: settings.expirationNanoseconds)
    }

    // MARK: - Inspection

    /// The destination set cached for `address` (head first), when it was last modified and last used.
    public func cachedSet(for address: IPAddress)
        -> (members: [DestinationKey], lastModified: Timestamp, lastUse: Timestamp)?
    {
        state.value.table.entry(for: address).map { ($0.value.members.map(\.key), $0.value.lastModified, $0.lastUse) }
    }

    /// The number of cache entries.
    public var cacheCount: Int { state.value.table.count }
}
