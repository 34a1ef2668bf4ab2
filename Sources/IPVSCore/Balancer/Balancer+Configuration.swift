import Synchronization

// Services and destinations, changed while traffic flows (ipvsadm -A -E -D -a -e -d), and what can be read back.
extension Balancer {
    /// `ipvsadm -A` with `servers` added one after another (`ipvsadm -a`, the last at the head of the list). The
    /// whole change is checked first: on an error nothing is changed.
    public func addService(_ service: VirtualService, servers: [RealServer] = []) throws(BalancerError) {
        try control.withLock { c throws(BalancerError) in
            guard c.services[service.key] == nil else { throw .serviceExists(service.key) }
            let scheduler: ServiceScheduler
            do throws(IPVSConfigurationError) {
                scheduler = try ServiceScheduler(service, servers: servers)
            } catch {
                throw .configuration(error)
            }
            guard !c.freeServices.isEmpty else { throw .tooManyServices(configuration.maximumServices) }
            guard c.freeDestinations.count >= scheduler.destinations.count else {
                throw .tooManyDestinations(configuration.maximumDestinations)
            }
            let s = c.freeServices.removeLast()
            var state = ServiceState(key: service.key, scheduler: scheduler, listSlots: [], slots: [:])
            for d in scheduler.destinations {
                let slot = takeDestinationSlot(&c, d.key)
                state.listSlots.append(slot)
                state.slots[d.key] = slot
            }
            startObject(&c, s)
            serviceSlots[s].state.withLock { $0 = state }
            c.services[service.key] = s
            directory.replace(with: c.services)
        }
    }

    /// `ipvsadm -E`: scheduler, flags, persistence; the key cannot change.
    public func editService(_ service: VirtualService) throws(BalancerError) {
        try withService(service.key) { _, st throws(BalancerError) in
            do throws(IPVSConfigurationError) {
                try st.scheduler.editService(service)
            } catch {
                throw .configuration(error)
            }
        }
    }

    /// `ipvsadm -D`: new packets no longer find the service; its connections go on to their destinations until
    /// they end, then its slot is freed.
    public func removeService(_ key: ServiceKey) throws(BalancerError) {
        try control.withLock { c throws(BalancerError) in
            guard let s = c.services.removeValue(forKey: key) else { throw .noSuchService(key) }
            directory.replace(with: c.services)
            serviceSlots[s].state.withLock { st in
                st!.removed = true
                for (_, d) in st!.slots {
                    destinationAvailable.store(d, 0)
                    if !c.retiredDestinations.contains(where: { $0.slot == d }) {
                        c.retiredDestinations.append(.init(slot: d, idleSince: nil))
                    }
                }
            }
            c.retiredServices.append(.init(slot: s, idleSince: nil))
        }
    }

    /// `ipvsadm -a`: at the head of the list. A destination removed from this service and still held by
    /// connections comes back with them and its counters (ip_vs_ctl.c `ip_vs_add_dest` from `dest_trash`).
    public func addDestination(_ server: RealServer, to service: ServiceKey) throws(BalancerError) {
        try control.withLock { c throws(BalancerError) in
            guard let s = c.services[service] else { throw .noSuchService(service) }
            try serviceSlots[s].state.withLock { st throws(BalancerError) in
                let held = st!.slots[server.key]
                if held == nil && c.freeDestinations.isEmpty {
                    throw .tooManyDestinations(configuration.maximumDestinations)
                }
                do throws(IPVSConfigurationError) {
                    try st!.scheduler.addDestination(server)
                } catch {
                    throw .configuration(error)
                }
                let d: Int
                if let held {
                    d = held
                    c.retiredDestinations.removeAll { $0.slot == held }
                } else {
                    d = takeDestinationSlot(&c, server.key)
                    st!.slots[server.key] = d
                }
                st!.listSlots.insert(d, at: 0)
                destinationAvailable.store(d, 1)
            }
        }
    }

    /// `ipvsadm -e`: weight (0 drains: no new connections, existing ones go on), thresholds, forwarding (for new
    /// connections).
    public func editDestination(_ server: RealServer, in service: ServiceKey) throws(BalancerError) {
        try withService(service) { _, st throws(BalancerError) in
            do throws(IPVSConfigurationError) {
                try st.scheduler.editDestination(server)
            } catch {
                throw .configuration(error)
            }
        }
    }

    /// `ipvsadm -d`: no new connections; in-flight ones keep it (and its slot) until they end.
    public func removeDestination(_ key: DestinationKey, from service: ServiceKey) throws(BalancerError) {
        try control.withLock { c throws(BalancerError) in
            guard let s = c.services[service] else { throw .noSuchService(service) }
            try serviceSlots[s].state.withLock { st throws(BalancerError) in
                guard let i = st!.scheduler.destinations.index(of: key) else {
                    throw .configuration(.noSuchDestination(key))
                }
                do throws(IPVSConfigurationError) {
                    try st!.scheduler.removeDestination(key)
                } catch {
                    throw .configuration(error)
                }
                let d = st!.listSlots.remove(at: i)
                destinationAvailable.store(d, 0)
                c.retiredDestinations.append(.init(slot: d, idleSince: nil))
            }
        }
    }

    func withService<R: Sendable>(_ key: ServiceKey, _ body: (Int, inout ServiceState) throws(BalancerError) -> R)
        throws(BalancerError) -> R
    {
        try control.withLock { c throws(BalancerError) -> R in
            guard let s = c.services[key] else { throw .noSuchService(key) }
            return try serviceSlots[s].state.withLock { st throws(BalancerError) -> R in try body(s, &st!) }
        }
    }

    /// A free destination slot for `key`, its counters and estimator started from 0. The caller checked one is free.
    func takeDestinationSlot(_ c: inout ControlState, _ key: DestinationKey) -> Int {
        let d = c.freeDestinations.removeLast()
        destinationKeys[d] = key
        destinationReferences.store(d, 0)
        destinationAvailable.store(d, 1)
        startObject(&c, configuration.maximumServices + d)
        return d
    }

    func startObject(_ c: inout ControlState, _ object: Int) {
        statistics.reset(object)
        c.estimators[object] = RateEstimator()
        c.estimating[object] = true
    }

    /// Frees retired slots that nothing has referred to for `slotReusePeriodSeconds`.
    func reclaim(_ c: inout ControlState, now: Timestamp) {
        func idleLongEnough(_ r: inout ControlState.Retired, _ idle: Bool) -> Bool {
            guard idle else {
                r.idleSince = nil
                return false
            }
            guard let since = r.idleSince else {
                r.idleSince = now
                return false
            }
            return since.adding(seconds: Self.slotReusePeriodSeconds) <= now
        }
        var i = 0
        while i < c.retiredDestinations.count {
            let d = c.retiredDestinations[i].slot
            if idleLongEnough(&c.retiredDestinations[i], destinationReferences.load(d) == 0) {
                let key = destinationKeys[d]
                for slot in serviceSlots {
                    slot.state.withLock { st in
                        if st?.slots[key] == d { st!.slots[key] = nil }
                    }
                }
                c.estimating[configuration.maximumServices + d] = false
                c.freeDestinations.append(d)
                c.retiredDestinations.remove(at: i)
            } else {
                i += 1
            }
        }
        i = 0
        while i < c.retiredServices.count {
            let s = c.retiredServices[i].slot
            let idle = serviceSlots[s].state.withLock { st in st.map { $0.slots.isEmpty && $0.templates.count == 0 } }
            if idleLongEnough(&c.retiredServices[i], idle ?? true) {
                serviceSlots[s].state.withLock { $0 = nil }
                c.estimating[s] = false
                c.freeServices.append(s)
                c.retiredServices.remove(at: i)
            } else {
                i += 1
            }
        }
    }

    // MARK: - Reading back

    /// The keys of the services, in no particular order.
    public var serviceKeys: [ServiceKey] { control.withLock { Array($0.services.keys) } }

    /// The service's configuration.
    public func service(_ key: ServiceKey) -> VirtualService? {
        try? withService(key) { _, st in st.scheduler.service }
    }

    /// The service's destinations in the kernel's list order, with their connection counters and overload flags
    /// (what `ipvsadm -Ln` shows).
    public func destinations(of key: ServiceKey) -> [DestinationState]? {
        try? withService(key) { _, st in Array(st.scheduler.destinations) }
    }

    /// A destination's state: in the list, or removed but still held by connections (the trash).
    public func destination(_ destination: DestinationKey, in key: ServiceKey) -> DestinationState? {
        (try? withService(key) { _, st -> DestinationState? in
            if let i = st.scheduler.destinations.index(of: destination) { return st.scheduler.destinations[i] }
            return st.scheduler.trash[destination]
        }) ?? nil
    }

    /// The service's traffic counters (`ipvsadm -Ln --stats`).
    public func statistics(of key: ServiceKey) -> StatisticsCounters? {
        guard let s = control.withLock({ $0.services[key] }) else { return nil }
        return statistics.totals(s)
    }

    /// A destination's traffic counters.
    public func statistics(of destination: DestinationKey, in key: ServiceKey) -> StatisticsCounters? {
        guard let d = destinationSlot(destination, in: key) else { return nil }
        return statistics.totals(configuration.maximumServices + d)
    }

    /// Every service's and destination's traffic together (the kernel's `tot_stats`).
    public var totalStatistics: StatisticsCounters {
        statistics.totals(configuration.maximumServices + configuration.maximumDestinations)
    }

    /// The service's rates (`ipvsadm -Ln --rate`), as of the last `tick`.
    public func rates(of key: ServiceKey) -> StatisticsRates? {
        control.withLock { c in c.services[key].map { c.estimators[$0].rates } }
    }

    /// A destination's rates, as of the last `tick`.
    public func rates(of destination: DestinationKey, in key: ServiceKey) -> StatisticsRates? {
        guard let d = destinationSlot(destination, in: key) else { return nil }
        return control.withLock { $0.estimators[configuration.maximumServices + d].rates }
    }

    /// The total rates, as of the last `tick`.
    public var totalRates: StatisticsRates {
        control.withLock { $0.estimators[configuration.maximumServices + configuration.maximumDestinations].rates }
    }

    func destinationSlot(_ destination: DestinationKey, in key: ServiceKey) -> Int? {
        (try? withService(key) { _, st in st.slots[destination] }) ?? nil
    }
}
