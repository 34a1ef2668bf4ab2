/// lblc, Locality-Based Least-Connection: net/netfilter/ipvs/ip_vs_lblc.c.
///
/// Each destination address a packet is sent to (the virtual address, or for a firewall-mark service whatever the
/// packet was addressed to) is cached with the real server it was last sent to. A hit keeps that server while it is
/// usable; otherwise the weighted least-connection server is picked and cached (`ip_vs_lblc_schedule`):
///
/// - usable (`ip_vs_lblc_schedule`): still in the service's list (`IP_VS_DEST_F_AVAILABLE`; a deleted server waits
///   in the kernel's trash, and the cache holds a reference to it, so re-adding it makes the entry good again —
///   hence entries hold a `DestinationKey`), weight > 0, and not `is_overloaded` (more active connections than its
///   weight while some server has fewer than half its weight). The `IP_VS_DEST_F_OVERLOAD` flag is not consulted
///   for a cached server;
/// - the pick (`__ip_vs_lblc_schedule`): weighted least connection over the list, ties to the earlier server (see
///   `LocalityLoadIndex`, which keeps it current through the hooks, as the least-connection schedulers do);
/// - the cache update (`ip_vs_lblc_new`): an entry already naming the picked server is kept as it is, otherwise it
///   is replaced by a new one (and the kernel's entry counter drifts up by one: see `LocalityTable`);
/// - expiry: a lookup hit refreshes `lastuse`; the periodic timer drops entries unused for the
///   `lblc_expiration` sysctl (every 30 min, the full check) or, while the table counts more than 16384 entries,
///   entries unused for 6 min (see `LocalityTable`).
///
/// Simplified: the timer fires exactly every 60 s from `settings.createdAt` (the kernel's timer wheel fires a
/// 60 s timer up to a few seconds late, and the lateness accumulates); times are not rounded to jiffies; a timer
/// due at the same instant as a packet fires first. Entry creation cannot fail (the kernel skips caching when
/// `kmalloc` fails).
///
/// Driven by `ServiceScheduler`, which reports every change through the hooks. Driven directly, every change to the
/// list — servers added and removed, weights, counters and flags — must be reported the same way (debug builds check
/// each pick against the kernel's literal scan, and each cached list index against the list).
public struct LocalityBasedLeastConnectionScheduler: SchedulingAlgorithm {
    /// `en->dest`: the cached server, and where it stands in the list (a hint that saves a lookup by key).
    struct CachedDestination: Sendable {
        var key: DestinationKey
        /// The server's index in the list, or -1 when it is not in it, as of list version `hintVersion`.
        var indexHint: Int
        var hintVersion: UInt64
    }

    /// The settings, `struct ip_vs_lblc_table` and the load index, behind one reference (see
    /// `LocalitySchedulerState`).
    final class State: LocalitySchedulerState, @unchecked Sendable {
        // Value semantics: mutated only when uniquely referenced (`ensureUnique`), so exclusivity needs no run-time
        // check.
        @exclusivity(unchecked) var settings: LocalityCacheSettings
        @exclusivity(unchecked) var expiration: UInt64
        @exclusivity(unchecked) var table: LocalityTable<CachedDestination>
        @exclusivity(unchecked) var load: LocalityLoadIndex
        @exclusivity(unchecked) var listVersion: UInt64 = 0

        init(settings: LocalityCacheSettings, table: consuming LocalityTable<CachedDestination>,
             load: LocalityLoadIndex, listVersion: UInt64 = 0) {
            self.settings = settings
            expiration = settings.expirationNanoseconds
            self.table = table
            self.load = load
            self.listVersion = listVersion
        }

        func copy() -> State {
            State(settings: settings, table: LocalityTable(copying: table), load: load, listVersion: listVersion)
        }

        /// `ip_vs_lblc_schedule`. The hit on a usable server whose list index is current is inline; everything else
        /// is `reschedule`.
        @inline(__always)
        func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
            table.runTimers(until: now, expirationNanoseconds: expiration)
            guard let position = table.position(of: flow.destinationAddress) else {
                return reschedule(flow.destinationAddress, at: nil, in: destinations, now: now)
            }
            table.touch(position, now: now)
            if table[value: position].hintVersion == listVersion {
                let i = table[value: position].indexHint
                assert(Self.hintIsCurrent(table[value: position], in: destinations))
                if i >= 0 {
                    let d = destinations[i]
                    if d.weight > 0 && !load.isOverloaded(d, in: destinations) { return i }
                }
            }
            return reschedule(flow.destinationAddress, at: position, in: destinations, now: now)
        }

        /// The rest of `ip_vs_lblc_schedule` (its lookup done, `lastuse` set): the cached server when it is usable
        /// (found by key when its hint is out of date), otherwise the pick, cached.
        @inline(never)
        func reschedule(_ address: IPAddress, at position: LocalityTable<CachedDestination>.Position?,
                        in destinations: DestinationList, now: Timestamp) -> Int? {
            if let position, let i = locate(at: position, in: destinations) {
                let d = destinations[i]
                if d.weight > 0 && !load.isOverloaded(d, in: destinations) { return i }
            }
            guard let picked = load.leastLoaded(in: destinations) else { return nil }
            let chosen = CachedDestination(key: destinations[picked].key, indexHint: picked, hintVersion: listVersion)
            if let position {
                // `ip_vs_lblc_new`: an entry already naming the server is kept as it is (its `lastuse` was just set).
                if table[value: position].key != chosen.key { table.replace(at: position, with: chosen, now: now) }
            } else {
                table.insert(chosen, for: address, now: now)
            }
            return picked
        }

        /// The index in the list of the server cached at `position`, or nil when it is not in the list (in the
        /// kernel's trash: not `IP_VS_DEST_F_AVAILABLE`). Brings the hint up to date.
        private func locate(at position: LocalityTable<CachedDestination>.Position,
                            in destinations: DestinationList) -> Int? {
            if table[value: position].hintVersion != listVersion {
                table[value: position].indexHint = destinations.index(of: table[value: position].key) ?? -1
                table[value: position].hintVersion = listVersion
            }
            let i = table[value: position].indexHint
            return i >= 0 ? i : nil
        }

        /// Whether a current hint says where its server is (debug builds check every one used).
        static func hintIsCurrent(_ cached: CachedDestination, in destinations: DestinationList) -> Bool {
            cached.indexHint == destinations.index(of: cached.key) ?? -1
        }
    }

    private var state: State

    /// The `lblc_expiration` sysctl and the set-up time (`createdAt` only matters at set-up).
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

    /// `ip_vs_lblc_init_svc`, with the `lblc_expiration` sysctl and the set-up time given.
    public init(destinations: DestinationList, flags: ServiceFlags, settings: LocalityCacheSettings) {
        state = State(settings: settings, table: LocalityTable(createdAt: settings.createdAt),
                      load: LocalityLoadIndex(destinations))
    }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.listChanged(destinations)
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.listChanged(destinations)
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.destinationChanged(at: index, destinations)
    }

    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {
        State.ensureUnique(&state)
        state.destinationChanged(at: index, destinations)
    }

    /// ip_vs_lblc.c `ip_vs_lblc_schedule`. A cache hit on a usable server does not allocate.
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        State.ensureUnique(&state)
        return state.schedule(flow, in: destinations, now: now)
    }

    // MARK: - Inspection

    /// The cached server for `address` and when the entry was last used, if there is an entry.
    public func cachedDestination(for address: IPAddress) -> (destination: DestinationKey, lastUse: Timestamp)? {
        state.table.entry(for: address).map { ($0.value.key, $0.lastUse) }
    }

    /// The number of cache entries.
    public var cacheCount: Int { state.table.count }

    /// `tbl->entries` as the kernel counts it (see `LocalityTable.countedEntries`).
    public var kernelEntryCount: Int { state.table.countedEntries }
}
