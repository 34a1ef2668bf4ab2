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
/// those it had when it was deleted, updated by `trashedCountersChanged` as its connections end. Driven directly,
/// every change to the list must be reported through the hooks, as for lblc.
public struct LocalityBasedLeastConnectionReplicationScheduler: SchedulingAlgorithm {
    /// A set member (`struct ip_vs_dest_set_elem`): the server, and where it stands in the list (a hint that saves
    /// a lookup by key).
    struct Member: Sendable {
        var key: DestinationKey
        /// The server's index in the list, or -1 when it is not in it, as of the set's `hintVersion`.
        var indexHint: Int
    }

    /// A set's members, head first as the kernel walks `set->list`, the head kept inline: most sets have one
    /// member, and a hit on one then reads it from the table's slot without following a pointer to an array's
    /// storage. A set is never empty: it is created with one member, and a member is erased only from a set of two
    /// or more.
    struct MemberList: RandomAccessCollection, MutableCollection, Sendable {
        var head: Member
        /// The members after the head; the empty array (whose shared storage stays in cache) for a one-member set.
        var rest: [Member] = []

        init(_ head: Member) { self.head = head }

        var startIndex: Int { 0 }
        var endIndex: Int { rest.count + 1 }

        subscript(position: Int) -> Member {
            @inline(__always) get { position == 0 ? head : rest[position - 1] }
            set {
                if position == 0 { head = newValue } else { rest[position - 1] = newValue }
            }
        }

        /// `ip_vs_dest_set_insert` of a new member: at the head (`list_add_rcu`).
        mutating func insertAtHead(_ member: Member) {
            rest.insert(head, at: 0)
            head = member
        }

        /// `ip_vs_dest_set_erase`, of a set of two or more.
        mutating func remove(at position: Int) {
            precondition(count > 1, "a destination set is never emptied")
            if position == 0 { head = rest.removeFirst() } else { rest.remove(at: position - 1) }
            if rest.isEmpty { rest = [] }  // the shared empty storage again
        }
    }

    /// `struct ip_vs_dest_set`.
    struct DestinationSet: Sendable {
        var members: MemberList
        /// `set->lastmod`.
        var lastModified: Timestamp
        /// The list version the members' hints are as of.
        var hintVersion: UInt64
    }

    /// The settings, `struct ip_vs_lblcr_table`, the load index and the deleted members' state, behind one reference
    /// (see `LocalitySchedulerState`).
    final class State: LocalitySchedulerState, @unchecked Sendable {
        // Value semantics: mutated only when uniquely referenced (`ensureUnique`), so exclusivity needs no run-time
        // check.
        @exclusivity(unchecked) var settings: LocalityCacheSettings
        @exclusivity(unchecked) var expiration: UInt64
        @exclusivity(unchecked) var table: LocalityTable<DestinationSet>
        @exclusivity(unchecked) var load: LocalityLoadIndex
        /// Deleted servers as they were when deleted (the kernel's trash keeps the same `struct ip_vs_dest`), for set
        /// members that are no longer in the list.
        @exclusivity(unchecked) var trashed: [DestinationKey: DestinationState]
        @exclusivity(unchecked) var listVersion: UInt64

        init(settings: LocalityCacheSettings, table: consuming LocalityTable<DestinationSet>, load: LocalityLoadIndex,
             trashed: [DestinationKey: DestinationState] = [:], listVersion: UInt64 = 0) {
            self.settings = settings
            expiration = settings.expirationNanoseconds
            self.table = table
            self.load = load
            self.trashed = trashed
            self.listVersion = listVersion
        }

        func copy() -> State {
            State(settings: settings, table: LocalityTable(copying: table), load: load, trashed: trashed,
                  listVersion: listVersion)
        }

        /// `ip_vs_lblcr_schedule`. A hit with current hints whose least-loaded member is usable and no shrink due is
        /// inline; everything else is `reschedule`.
        @inline(__always)
        func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
            table.runTimers(until: now, expirationNanoseconds: expiration)
            guard let position = table.position(of: flow.destinationAddress) else {
                return reschedule(flow.destinationAddress, at: nil, in: destinations, now: now)
            }
            table.touch(position, now: now)
            if table[value: position].hintVersion == listVersion {
                assert(Self.hintsAreCurrent(table[value: position].members, in: destinations))
                if table[value: position].members.rest.isEmpty {
                    // A one-member set (never shrunk): `ip_vs_dest_set_min` is that member if it is usable.
                    let i = table[value: position].members.head.indexHint
                    if i >= 0 {
                        let d = destinations[i]
                        if !d.overloaded && d.weight > 0 && !load.isOverloaded(d, in: destinations) { return i }
                    }
                } else {
                    let least = Self.setMin(table[value: position].members, in: destinations)
                    if least >= 0,
                       now <= LocalityTable<DestinationSet>.later(table[value: position].lastModified, by: expiration),
                       !load.isOverloaded(destinations[least], in: destinations)
                    {
                        return least
                    }
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
                let head = Member(key: destinations[picked].key, indexHint: picked)
                table.insert(DestinationSet(members: MemberList(head), lastModified: now, hintVersion: listVersion),
                             for: address, now: now)
                return picked
            }
            if table[value: position].hintVersion != listVersion {
                Self.refreshHints(&table[value: position].members, in: destinations)
                table[value: position].hintVersion = listVersion
            }
            let least = Self.setMin(table[value: position].members, in: destinations)
            if table[value: position].members.count > 1
                && now > LocalityTable<DestinationSet>.later(table[value: position].lastModified, by: expiration)
            {
                // "More than one destination + enough time passed by, cleanup": erase the most loaded member.
                if let most = setMax(table[value: position].members, in: destinations) {
                    table[value: position].members.remove(at: most)
                    table[value: position].lastModified = now
                }
            }
            if least >= 0 && !load.isOverloaded(destinations[least], in: destinations) { return least }
            guard let picked = load.leastLoaded(in: destinations) else { return nil }
            let key = destinations[picked].key
            // `ip_vs_dest_set_insert(set, dest, true)`: only if not a member yet; a new member goes to the head.
            if !table[value: position].members.contains(where: { $0.key == key }) {
                table[value: position].members.insertAtHead(Member(key: key, indexHint: picked))
                table[value: position].lastModified = now
            }
            return picked
        }

        /// Looks every member up by key: its index in the list, or -1 when it is not in it.
        static func refreshHints(_ members: inout MemberList, in destinations: DestinationList) {
            for m in members.indices { members[m].indexHint = destinations.index(of: members[m].key) ?? -1 }
        }

        /// Whether current hints say where their servers are (debug builds check every set used).
        static func hintsAreCurrent(_ members: MemberList, in destinations: DestinationList) -> Bool {
            members.allSatisfy { $0.indexHint == destinations.index(of: $0.key) ?? -1 }
        }

        /// ip_vs_lblcr.c `ip_vs_dest_set_min`, by current hints: the index in `destinations` of the weighted
        /// least-connection member, -1 for none. The kernel's two stages in one loop: until a member qualified,
        /// only one with weight > 0 does; after, any later one may replace it. A member not in the list is not
        /// AVAILABLE: skipped whether or not it is flagged overloaded.
        @inline(__always)
        static func setMin(_ members: MemberList, in destinations: DestinationList) -> Int {
            var least = -1
            var loh: Int64 = 0
            var leastWeight: Int64 = 0
            for member in members {
                let i = member.indexHint
                guard i >= 0 else { continue }
                let d = destinations[i]
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

        /// ip_vs_lblcr.c `ip_vs_dest_set_max`: the position in `members` of the weighted most-connection member.
        /// Members no longer in the list count too, with their state from the trash.
        func setMax(_ members: MemberList, in destinations: DestinationList) -> Int? {
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
            state.apply(newValue)
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
        state.listChanged(destinations)
        state.trashed[destinations[index].key] = nil
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.listChanged(destinations)
        state.trashed[removed.key] = removed
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.destinationChanged(at: index, destinations)
    }

    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.destinationChanged(at: index, destinations)
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
