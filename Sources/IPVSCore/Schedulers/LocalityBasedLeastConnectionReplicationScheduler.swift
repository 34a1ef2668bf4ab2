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

    /// The settings, `struct ip_vs_lblcr_table`, the load index and the deleted members' state, behind one reference
    /// (see `LocalitySchedulerState`).
    final class State: LocalitySchedulerState, @unchecked Sendable {
        // Value semantics: mutated only when uniquely referenced (`ensureUnique`), so exclusivity needs no run-time
        // check.
        @exclusivity(unchecked) var settings: LocalityCacheSettings
        /// `settings.expirationNanoseconds`, kept beside it so that a pick does not recompute it.
        @exclusivity(unchecked) var expiration: UInt64
        @exclusivity(unchecked) var table: LocalityTable<DestinationSet>
        @exclusivity(unchecked) var load: LocalityLoadIndex
        /// Deleted servers as they were when deleted (the kernel's trash keeps the same `struct ip_vs_dest`), for set
        /// members that are no longer in the list.
        @exclusivity(unchecked) var trashed: [DestinationKey: DestinationState]

        init(settings: LocalityCacheSettings, table: consuming LocalityTable<DestinationSet>, load: LocalityLoadIndex,
             trashed: [DestinationKey: DestinationState] = [:]) {
            self.settings = settings
            expiration = settings.expirationNanoseconds
            self.table = table
            self.load = load
            self.trashed = trashed
        }

        func copy() -> State {
            State(settings: settings, table: LocalityTable(copying: table), load: load, trashed: trashed)
        }

        /// `ip_vs_lblcr_schedule`. A hit whose least-loaded member is usable, with every member's list index as
        /// cached and no shrink due, is inline; everything else is `reschedule`.
        @inline(__always)
        func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
            table.runTimers(until: now, expirationNanoseconds: expiration)
            guard let position = table.position(of: flow.destinationAddress) else {
                return reschedule(flow.destinationAddress, at: nil, in: destinations, now: now)
            }
            table.touch(position, now: now)
            let count = table[value: position].members.count
            if count == 1 {
                // A one-member set (never shrunk): `ip_vs_dest_set_min` is that member if it is usable.
                let member = table[value: position].members[0]
                let i = member.indexHint
                if i < destinations.count {
                    let d = destinations[i]
                    if d.key == member.key && !d.overloaded && d.weight > 0 && !load.isOverloaded(d, in: destinations) {
                        return i
                    }
                }
            } else {
                let least = Self.setMinByHints(table[value: position].members, in: destinations)
                if least >= 0,
                   now <= LocalityTable<DestinationSet>.later(table[value: position].lastModified, by: expiration),
                   !load.isOverloaded(destinations[least], in: destinations)
                {
                    return least
                }
            }
            return reschedule(flow.destinationAddress, at: position, in: destinations, now: now)
        }

        /// The rest of `ip_vs_lblcr_schedule` (its lookup done, `lastuse` set): a new entry for a new address;
        /// otherwise the set's least-loaded member, after the shrink when due, when it is usable, else the pick,
        /// added to the set.
        @inline(never)
        func reschedule(_ address: IPAddress, at position: LocalityTable<DestinationSet>.Position?,
                        in destinations: DestinationList, now: Timestamp) -> Int? {
            guard let position else {
                // No entry: pick and create one (`ip_vs_lblcr_new`).
                guard let picked = load.leastLoaded(in: destinations) else { return nil }
                let set = DestinationSet(members: [Member(key: destinations[picked].key, indexHint: picked)],
                                         lastModified: now)
                table.insert(set, for: address, now: now)
                return picked
            }
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

        /// `setMin` for a set whose members all stand in the list where their hints say: the index in
        /// `destinations` of the weighted least-connection member, -1 for none; or -2 as soon as some member does not
        /// (it moved, or left the list), for `setMin` to answer. The two stages of `ip_vs_dest_set_min` in one loop:
        /// until a member qualified, only one with weight > 0 does; after, any later one may replace it.
        @inline(never)
        static func setMinByHints(_ members: [Member], in destinations: DestinationList) -> Int {
            var least = -1
            var loh: Int64 = 0
            var leastWeight: Int64 = 0
            for member in members {
                let i = member.indexHint
                guard i < destinations.count else { return -2 }
                let d = destinations[i]
                guard d.key == member.key else { return -2 }
                if d.overloaded { continue }
                let doh = LocalityLoadIndex.overhead(d)
                if least < 0 ? d.weight > 0 : loh * Int64(d.weight) > doh * leastWeight {
                    least = i
                    loh = doh
                    leastWeight = Int64(d.weight)
                }
            }
            return least
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

    private var state: State

    /// The `lblcr_expiration` sysctl and the set-up time (`createdAt` only matters at set-up).
    public var settings: LocalityCacheSettings {
        get { state.settings }
        set {
            State.ensureUnique(&state)
            state.settings = newValue
            state.expiration = newValue.expirationNanoseconds
        }
    }

    public init(destinations: DestinationList, flags: ServiceFlags) {
        self.init(destinations: destinations, flags: flags, settings: LocalityCacheSettings())
    }

    /// `ip_vs_lblcr_init_svc`, with the `lblcr_expiration` sysctl and the set-up time given.
    public init(destinations: DestinationList, flags: ServiceFlags, settings: LocalityCacheSettings) {
        state = State(settings: settings, table: LocalityTable(createdAt: settings.createdAt),
                      load: LocalityLoadIndex(destinations))
    }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.load.rebuild(destinations)
        state.trashed[destinations[index].key] = nil
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.load.rebuild(destinations)
        state.trashed[removed.key] = removed
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.load.update(at: index, destinations)
    }

    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.load.update(at: index, destinations)
    }

    public mutating func trashedCountersChanged(_ trashedState: DestinationState) {
        guard state.trashed[trashedState.key] != nil else { return }
        State.ensureUnique(&state)
        state.trashed[trashedState.key] = trashedState
    }

    /// ip_vs_lblcr.c `ip_vs_lblcr_schedule`. A hit whose set has a usable member does not allocate.
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        State.ensureUnique(&state)
        return state.schedule(flow, in: destinations, now: now)
    }

    // MARK: - Inspection

    /// The destination set cached for `address` (head first), when it was last modified and last used.
    public func cachedSet(for address: IPAddress)
        -> (members: [DestinationKey], lastModified: Timestamp, lastUse: Timestamp)?
    {
        state.table.entry(for: address).map { ($0.value.members.map(\.key), $0.value.lastModified, $0.lastUse) }
    }

    /// The number of cache entries.
    public var cacheCount: Int { state.table.count }
}
