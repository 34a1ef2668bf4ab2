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
    /// and port comes back from the trash with its counters (ip_vs_ctl.c `ip_vs_add_dest`).
    public mutating func addDestination(_ server: RealServer) throws(IPVSConfigurationError) {
        try server.validate(for: service)
        let key = server.key
        guard destinations.index(of: key) == nil else { throw .destinationExists(key) }
        var state = trash.removeValue(forKey: key) ?? DestinationState(server)
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
    private static func applyUpdate(_ server: RealServer, to state: inout DestinationState, adding: Bool) {
        // "keep the last_weight with latest non-0 weight"
        if adding || server.weight != 0 { state.lastWeight = server.weight }
        if server.upperThreshold == 0 || server.upperThreshold > state.server.upperThreshold {
            state.overloaded = false
        }
        state.server = server
    }

    // MARK: - Connection counters (ip_vs_conn.c ip_vs_bind_dest / ip_vs_unbind_dest, protocol state changes)

    /// A connection (or, with `isTemplate`, a persistence template) was bound to `key`. New connections start
    /// inactive (`IP_VS_CONN_F_INACTIVE` is in every destination's `conn_flags`); reaching the upper threshold
    /// sets the overload flag.
    public mutating func connectionBound(to key: DestinationKey, isTemplate: Bool = false) {
        updateCounters(key) { d in
            if isTemplate { d.persistentConnections += 1 } else { d.inactiveConnections += 1 }
            if d.server.upperThreshold != 0 && d.totalConnections >= Int64(d.server.upperThreshold) {
                d.overloaded = true
            }
        }
    }

    /// A connection was unbound from `key` (it expired). `wasActive` says which counter it was in.
    public mutating func connectionUnbound(from key: DestinationKey, wasActive: Bool, isTemplate: Bool = false) {
        updateCounters(key) { d in
            if isTemplate {
                d.persistentConnections -= 1
            } else if wasActive {
                d.activeConnections -= 1
            } else {
                d.inactiveConnections -= 1
            }
            let l = Int64(d.server.lowerThreshold)
            let u = Int64(d.server.upperThreshold)
            if l != 0 {
                if d.totalConnections < l { d.overloaded = false }
            } else if u != 0 {
                if d.totalConnections * 4 < u * 3 { d.overloaded = false }
            } else {
                d.overloaded = false
            }
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
