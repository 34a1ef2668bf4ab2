/// The live scheduling state of one virtual service: its configuration, its destinations in kernel list order,
/// the destinations deleted but still referenced (the kernel's trash list), and its scheduling algorithm.
///
/// Every change goes through the same steps the kernel takes in ip_vs_ctl.c, so that list order, scheduler state
/// and the overload flag evolve exactly as in the kernel; `schedule` then picks what the kernel's scheduler picks.
public struct ServiceScheduler: Sendable {
    public private(set) var service: VirtualService
    public private(set) var destinations: DestinationList
    /// Deleted destinations, kept with their counters: the kernel's `dest_trash`. Adding one back restores it.
    public private(set) var trash: [DestinationKey: DestinationState]
    public private(set) var scheduler: Scheduler

    /// A new service; `servers` are added one after another, as successive `ipvsadm -a` would add them
    /// (so the last one ends up at the head of the kernel's list).
    public init(_ service: VirtualService, servers: [RealServer] = []) throws(IPVSConfigurationError) {
        try service.validate()
        self.service = service
        destinations = DestinationList()
        trash = [:]
        scheduler = Scheduler(service.scheduler, destinations: destinations, flags: service.flags)
        for s in servers { try addDestination(s) }
    }

    /// A service whose destinations are already in kernel list order (index 0 = head), with their counters,
    /// e.g. as dumped from the kernel. The scheduler is initialised over that list, as `init_service` would be
    /// after the destinations were added (schedulers whose state depends on the history of edits, such as the rr
    /// cursor, start from their initial state).
    public init(_ service: VirtualService, kernelOrder: [DestinationState]) throws(IPVSConfigurationError) {
        try service.validate()
        for d in kernelOrder { try d.server.validate(for: service) }
        var seen = Set<DestinationKey>()
        for d in kernelOrder where !seen.insert(d.key).inserted {
            throw .duplicateDestination(d.key)
        }
        self.service = service
        destinations = DestinationList(kernelOrder: kernelOrder)
        trash = [:]
        scheduler = Scheduler(service.scheduler, destinations: destinations, flags: service.flags)
    }

    // MARK: - Configuration (ipvsadm -E, -a, -e, -d)

    /// `ipvsadm -E`: edits the service. A new scheduler starts from its initial state over the current list;
    /// changed flags are handed to the running one (ip_vs_ctl.c `ip_vs_edit_service`).
    public mutating func editService(_ new: VirtualService) throws(IPVSConfigurationError) {
        try new.validate()
        guard new.key == service.key else { throw .serviceKeyChanged(from: service.key, to: new.key) }
        for d in destinations { try d.server.validate(for: new) }
        let old = service
        service = new
        if new.scheduler != old.scheduler {
            scheduler = Scheduler(new.scheduler, destinations: destinations, flags: new.flags)
        } else if new.flags != old.flags {
            scheduler.handle(.flagsChanged(new.flags), in: destinations)
        }
    }

    /// `ipvsadm -a`: adds a destination at the head of the list. A deleted destination with the same address
    /// and port comes back from the trash with its counters, thresholds and overload flag (ip_vs_ctl.c
    /// `ip_vs_add_dest`, `ip_vs_trash_get_dest`); a new one starts zeroed (`ip_vs_new_dest`: `kzalloc`, so its
    /// thresholds are 0 until `__ip_vs_update_dest` compares them with the requested ones).
    public mutating func addDestination(_ server: RealServer) throws(IPVSConfigurationError) {
        try server.validate(for: service)
        let key = server.key
        guard destinations.index(of: key) == nil else { throw .destinationExists(key) }
        var state: DestinationState
        if let restored = trash.removeValue(forKey: key) {
            state = restored
        } else {
            var zeroed = server
            zeroed.upperThreshold = 0
            zeroed.lowerThreshold = 0
            state = DestinationState(zeroed)
        }
        Self.applyUpdate(server, to: &state, adding: true)
        destinations.insertAtHead(state)
        scheduler.handle(.added(0), in: destinations)
    }

    /// `ipvsadm -e`: edits a destination in place (ip_vs_ctl.c `ip_vs_edit_dest`).
    public mutating func editDestination(_ server: RealServer) throws(IPVSConfigurationError) {
        try server.validate(for: service)
        guard let i = destinations.index(of: server.key) else { throw .noSuchDestination(server.key) }
        destinations.modify(at: i) { Self.applyUpdate(server, to: &$0, adding: false) }
        scheduler.handle(.updated(i), in: destinations)
    }

    /// `ipvsadm -d`: unlinks a destination and keeps it in the trash (ip_vs_ctl.c `__ip_vs_del_dest`).
    public mutating func removeDestination(_ key: DestinationKey) throws(IPVSConfigurationError) {
        guard let i = destinations.index(of: key) else { throw .noSuchDestination(key) }
        let removed = destinations.remove(at: i)
        trash[key] = removed
        scheduler.handle(.removed(removed, i), in: destinations)
    }

    /// ip_vs_ctl.c `__ip_vs_update_dest`: the weight, thresholds and overload flag, as the kernel sets them.
    /// Only when the upper or lower threshold differs from the stored one does the kernel rewrite them (with
    /// `l_threshold_val`) and re-evaluate the flag, with `__ip_vs_dest_update_overload(dest, 0)`; an edit that
    /// keeps both thresholds leaves the flag as it is, whatever the counters.
    private static func applyUpdate(_ server: RealServer, to state: inout DestinationState, adding: Bool) {
        // "keep the last_weight with latest non-0 weight"
        if adding || server.weight != 0 { state.lastWeight = server.weight }
        let thresholdsChanged = state.server.upperThreshold != server.upperThreshold
            || state.server.lowerThreshold != server.lowerThreshold
        state.server = server
        if thresholdsChanged { updateOverload(&state, mode: 0) }
    }

    /// ip_vs_ctl.c `__ip_vs_dest_update_overload`: sets or clears `IP_VS_DEST_F_OVERLOAD` from `totalconns`, the
    /// upper threshold `u` and `l_threshold_val` `l`. No upper threshold clears the flag. Otherwise `mode` says
    /// who asks: +1 (a bind reached `u`) sets the flag from `l` up; -1 (an unbind dropped below `l`) keeps it from
    /// `u` up and clears it below; 0 (thresholds edited) sets it from `u` up, keeps it in `[l, u)`, clears it below.
    /// The kernel compares the `int` count with the `u32` thresholds, i.e. as unsigned numbers; so do we.
    static func updateOverload(_ d: inout DestinationState, mode: Int) {
        let u = d.server.upperThreshold
        guard u != 0 else {
            d.overloaded = false
            return
        }
        let l = d.lowerThresholdValue
        let conns = UInt32(truncatingIfNeeded: d.totalConnections)
        if conns >= (mode > 0 ? l : u) {
            d.overloaded = true
        } else if conns < (mode < 0 ? u : l) {
            d.overloaded = false
        }
    }

    // MARK: - Connection counters (ip_vs_conn.c ip_vs_bind_dest / ip_vs_unbind_dest, protocol state changes)

    /// A connection (or, with `isTemplate`, a persistence template) was bound to `key` (ip_vs_conn.c
    /// `ip_vs_bind_dest`). New connections start inactive (`IP_VS_CONN_F_INACTIVE` is in every destination's
    /// `conn_flags`). Only the bind whose `totalconns` becomes exactly the upper threshold looks at the overload
    /// flag (`ip_vs_dest_update_overload(dest, 1)`), which sets it; binds above the threshold and templates leave
    /// it alone.
    public mutating func connectionBound(to key: DestinationKey, isTemplate: Bool = false) {
        updateCounters(key) { d in
            if isTemplate {
                d.persistentConnections += 1
                return
            }
            d.inactiveConnections += 1
            if UInt32(truncatingIfNeeded: d.totalConnections) == d.server.upperThreshold {
                Self.updateOverload(&d, mode: 1)
            }
        }
    }

    /// A connection was unbound from `key` (it expired; ip_vs_conn.c `ip_vs_unbind_dest`). `wasActive` says which
    /// counter it was in. Only the unbind that takes `totalconns` from exactly `l_threshold_val` down by one looks
    /// at the overload flag (`ip_vs_dest_update_overload(dest, -1)`), which clears it; other unbinds and
    /// templates leave it alone.
    public mutating func connectionUnbound(from key: DestinationKey, wasActive: Bool, isTemplate: Bool = false) {
        updateCounters(key) { d in
            if isTemplate {
                d.persistentConnections -= 1
                return
            }
            let before = UInt32(truncatingIfNeeded: d.totalConnections)  // atomic_fetch_dec: the value before
            if wasActive { d.activeConnections -= 1 } else { d.inactiveConnections -= 1 }
            if before == d.lowerThresholdValue { Self.updateOverload(&d, mode: -1) }
        }
    }

    /// A connection on `key` entered (`true`) or left (`false`) an established state: it moves between the
    /// inactive and active counters (ip_vs_proto_tcp.c `set_tcp_state`).
    public mutating func connectionChangedActivity(on key: DestinationKey, nowActive: Bool) {
        updateCounters(key) { d in
            if nowActive {
                d.activeConnections += 1
                d.inactiveConnections -= 1
            } else {
                d.activeConnections -= 1
                d.inactiveConnections += 1
            }
        }
    }

    /// Sets a destination's counters directly, e.g. from a kernel dump. `overloaded` defaults to its current value.
    public mutating func setCounters(
        of key: DestinationKey, active: Int32, inactive: Int32, persistent: Int32? = nil, overloaded: Bool? = nil
    ) {
        updateCounters(key) { d in
            d.activeConnections = active
            d.inactiveConnections = inactive
            if let p = persistent { d.persistentConnections = p }
            if let o = overloaded { d.overloaded = o }
        }
    }

    private mutating func updateCounters(_ key: DestinationKey, _ body: (inout DestinationState) -> Void) {
        if let i = destinations.index(of: key) {
            destinations.modify(at: i, body)
            scheduler.handle(.countersChanged(i), in: destinations)
        } else if trash[key] != nil {
            body(&trash[key]!)
            scheduler.handle(.trashedCountersChanged(trash[key]!), in: destinations)
        }
    }

    // MARK: - Scheduling

    /// The destination the kernel's scheduler picks for a new connection of `flow` (without persistence), as an
    /// index into `destinations`; `nil` where the kernel finds none. Advances the scheduler's state (rr cursor,
    /// lblc cache…) exactly as the kernel's pick does.
    public mutating func schedule(_ flow: Flow, now: Timestamp = .zero) -> Int? {
        scheduler.schedule(flow, in: destinations, now: now)
    }
}
