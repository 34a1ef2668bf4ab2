import Synchronization

/// The load balancer a proxy daemon embeds: for each packet it finds the connection in a lock-free
/// `ConnectionTable`, or makes one as the kernel would — the service's persistence and scheduler pick the
/// destination — and it carries the connection through its protocol states, keeps the destinations' connection
/// counters as the kernel counts them, and keeps traffic statistics and rates.
///
/// ## What the kernel does, and where
/// - A packet of an existing connection: ip_vs_core.c `ip_vs_in` finds the connection, counts the packet
///   (`ip_vs_in_stats`, `ip_vs_out_stats`: only while the destination is in its service), runs the protocol's state
///   transition (ip_vs_proto_tcp.c `set_tcp_state`, ip_vs_proto_sctp.c `set_sctp_state`, ip_vs_proto_udp.c
///   `udp_state_transition`) and restarts the connection's timer with the new state's timeout (`ip_vs_conn_put`).
/// - A first packet: `tcp_conn_schedule` (SYN without RST only), `sctp_conn_schedule` (INIT only), then
///   `ip_vs_schedule` (FTP data port 20 never, a non-persistent address service only on its port, persistence
///   through `ip_vs_sched_persist` and `ip_vs_check_template`), `ip_vs_conn_new` → `ip_vs_bind_dest` (the
///   connection starts inactive: `IP_VS_CONN_F_INACTIVE` is in every destination's `conn_flags`; destinations that
///   do not masquerade add `IP_VS_CONN_F_NOOUTPUT`), `ip_vs_conn_stats`, and the first packet's state transition.
/// - Activity: a connection counts in `activeconns` while its state is active (TCP ESTABLISHED, SYN_SENT,
///   SYN_RECV, SYNACK; SCTP ESTABLISHED), otherwise inactive; a change moves it between the counters.
/// - Expiry: `sweep(now:)` removes expired connections (ip_vs_conn.c `ip_vs_conn_expire` → `ip_vs_unbind_dest`,
///   `ip_vs_control_del`) and lets expired persistence templates go; each connection is released exactly once,
///   by whoever removed it from the table (a sweep, `close`, or an insert that replaced it).
/// - One-packet scheduling (UDP on a `.onePacket` service): bound and released at once, never in the table.
///
/// ## Threads
/// Every method may be called from any thread.
/// - A packet of an existing connection takes no lock and allocates nothing: one table update (a lock-free
///   compare-and-swap that also restarts the timer), three relaxed atomic adds into the caller's statistics shard
///   (`worker`), and reads of the destination's slot. Only a state change that moves the connection between active
///   and inactive takes its service's lock, to update the scheduler's counters (2 times in a TCP connection's
///   life: SYN on creation, then leaving the active states).
/// - A new connection takes its service's lock (as the kernel's rr and wrr take one) around the pick, the insert
///   and the counter updates; the service itself is found through a sequence-locked directory, without a lock.
/// - Configuration changes take a control lock, then the service's lock. In-flight connections keep their
///   destination: a connection holds its destination's slot, which is never reused while a connection or
///   template refers to it, nor for `slotReusePeriod` after (the kernel's `dest_trash` with
///   `IP_VS_DEST_TRASH_PERIOD`): a reader that loaded a connection just before it was released still reads the
///   right destination.
///
/// ## Not modelled
/// The FTP helpers and the FTP-port service lookup, persistence engines, `conn_reuse_mode`, `expire_nodest_conn`,
/// `secure_tcp`, `sloppy_tcp`/`sloppy_sctp`, templates shared across services (each service has its own, as in
/// `VirtualServer`), and ICMP. Output packets are named by the connection's client-side tuple.
public final class Balancer: @unchecked Sendable {
    /// Sizes and settings, fixed at creation.
    public struct Configuration: Sendable {
        /// Connection-table slots (rounded up to a power of two); about twice the connections to hold.
        public var connectionCapacity: Int
        public var maximumServices: Int
        public var maximumDestinations: Int
        /// Statistics shards (rounded up to a power of two): one per worker thread that passes packets.
        public var statisticsShards: Int
        /// The caller promises that a `worker` index is used by one thread at a time: statistics are then counted
        /// with plain loads and stores instead of atomic adds (see `ShardedStatistics`). Off by default.
        public var exclusiveWorkers: Bool
        public var probeLimit: Int
        /// The connection table's hash seed; random by default.
        public var hashSeed: UInt64?
        public var persistence: PersistenceSettings
        public var timeouts: ProtocolTimeouts

        public init(connectionCapacity: Int = 1 << 16, maximumServices: Int = 256, maximumDestinations: Int = 4096,
                    statisticsShards: Int = 2, exclusiveWorkers: Bool = false,
                    probeLimit: Int = ConnectionTable.defaultProbeLimit,
                    hashSeed: UInt64? = nil, persistence: PersistenceSettings = PersistenceSettings(),
                    timeouts: ProtocolTimeouts = ProtocolTimeouts()) {
            self.connectionCapacity = connectionCapacity
            self.maximumServices = maximumServices
            self.maximumDestinations = maximumDestinations
            self.statisticsShards = statisticsShards
            self.exclusiveWorkers = exclusiveWorkers
            self.probeLimit = probeLimit
            self.hashSeed = hashSeed
            self.persistence = persistence
            self.timeouts = timeouts
        }
    }

    /// How long a released destination or service slot waits before reuse (ip_vs.h `IP_VS_DEST_TRASH_PERIOD`).
    public static let slotReusePeriodSeconds: UInt64 = 120
    /// The largest number of service or destination slots: 20 bits of a connection's ids each.
    public static let maximumSlots = 1 << 20

    public let configuration: Configuration
    /// The connections.
    public let table: ConnectionTable
    /// `table`, for the packet path: used through `_withUnsafeGuaranteedRef`, so that a packet costs no retain and
    /// release of the table object (an atomic add on a line every packet thread would share). `self` keeps the
    /// table alive.
    @usableFromInline let tableReference: Unmanaged<ConnectionTable>
    /// Per-shard counters: services at `0..<maximumServices`, destinations after them, the total last.
    public let statistics: ShardedStatistics

    let serviceSlots: [ServiceSlot]
    let directory: ServiceDirectory
    /// Each destination slot's key, written (under the control lock) only while no connection refers to the slot.
    @usableFromInline let destinationKeys: UnsafeMutablePointer<DestinationKey>
    /// Connections and templates bound to each destination slot.
    @usableFromInline let destinationReferences: AtomicWords
    /// 1 while the destination is in its service's list (`IP_VS_DEST_F_AVAILABLE`): only then are packets counted.
    @usableFromInline let destinationAvailable: AtomicWords
    /// Seconds per state: TCP at 0…10, UDP at 11, SCTP at 12…25.
    @usableFromInline let timeoutWords: AtomicWords
    let control: GuardedState<ControlState>

    // Connection flags (`ConnectionValue.flags`).
    @usableFromInline static let inactiveFlag: UInt16 = 1 << 0  // IP_VS_CONN_F_INACTIVE
    @usableFromInline static let noOutputFlag: UInt16 = 1 << 1  // IP_VS_CONN_F_NOOUTPUT
    @usableFromInline static let forwardingShift: UInt16 = 2  // IP_VS_CONN_F_FWD_MASK, 2 bits
    @usableFromInline static let slotMask: UInt32 = 0xF_FFFF

    public init(_ configuration: Configuration = Configuration()) throws(ConnectionTableError) {
        precondition(configuration.maximumServices > 0 && configuration.maximumServices <= Self.maximumSlots,
                     "maximumServices must be in 1...\(Self.maximumSlots)")
        precondition(configuration.maximumDestinations > 0
                     && configuration.maximumDestinations <= Self.maximumSlots,
                     "maximumDestinations must be in 1...\(Self.maximumSlots)")
        self.configuration = configuration
        table = try ConnectionTable(capacity: configuration.connectionCapacity,
                                    probeLimit: configuration.probeLimit, hashSeed: configuration.hashSeed)
        tableReference = Unmanaged.passUnretained(table)
        let services = configuration.maximumServices
        let destinations = configuration.maximumDestinations
        statistics = ShardedStatistics(objects: services + destinations + 1, shards: configuration.statisticsShards,
                                       exclusiveShards: configuration.exclusiveWorkers)
        serviceSlots = (0..<services).map { _ in ServiceSlot() }
        directory = ServiceDirectory(capacity: services)
        destinationKeys = .allocate(capacity: destinations)
        destinationKeys.initialize(repeating: DestinationKey(address: .v4(IPv4Address(0)), port: 0),
                                   count: destinations)
        destinationReferences = AtomicWords(count: destinations)
        destinationAvailable = AtomicWords(count: destinations)
        timeoutWords = AtomicWords(count: 26)
        var c = ControlState(services: services, destinations: destinations, timeouts: configuration.timeouts)
        c.estimating[services + destinations] = true  // the total
        control = GuardedState(c)
        storeTimeouts(configuration.timeouts)
    }

    deinit {
        destinationKeys.deinitialize(count: configuration.maximumDestinations)
        destinationKeys.deallocate()
    }

    // MARK: - Packets

    /// Handles one packet: continues its connection, or makes a new one. `now` is the caller's clock (monotonic);
    /// `worker` picks the statistics shard (give each packet thread its own).
    @inlinable
    public func process(_ packet: BalancerPacket, now: Timestamp, worker: Int = 0) -> BalancerResult {
        if packet.firewallMark != 0, let key = packet.key(mark: packet.firewallMark),
           let r = continueConnection(key, packet, now: now, worker: worker) {
            return r
        }
        guard let key = packet.key(mark: 0) else { return .noService }
        if let r = continueConnection(key, packet, now: now, worker: worker) { return r }
        return newConnection(packet, now: now, worker: worker)
    }

    /// The packet path of an existing connection: state transition and timer restart in one lock-free update, then
    /// the statistics. Nil when there is no live connection under `key`.
    @inlinable
    func continueConnection(_ key: ConnectionKey, _ packet: BalancerPacket, now: Timestamp, worker: Int)
        -> BalancerResult?
    {
        var flips = false
        // The closure captures no object (only a pointer to the timeouts), so the packet path retains nothing.
        let timeouts = timeoutWords.words
        let result = tableReference._withUnsafeGuaranteedRef { table in
            table.update(key, now: now) { current in
                let next = Self.transition(current, packet, now: now, timeouts: timeouts)
                flips = (next.flags ^ current.flags) & Self.inactiveFlag != 0
                return flips || next == current ? nil : next
            }
        }
        let value: ConnectionValue
        switch result {
        case .updated(_, let new): value = new
        case .declined(let current):
            if flips {
                guard let v = transitionUnderLock(key, packet, now: now) else { return nil }
                value = v
            } else {
                value = current
            }
        case .notFound: return nil
        }
        countPacket(value, packet, worker: worker)
        return .existing(decision(value, packet.ipProtocol))
    }

    /// The connection after `packet`: the protocol's next state, the active/inactive and no-output flags, and the
    /// timer restarted with the new state's timeout.
    @inlinable
    static func transition(_ current: ConnectionValue, _ packet: BalancerPacket, now: Timestamp,
                           timeouts: UnsafeMutablePointer<Atomic<UInt64>>) -> ConnectionValue {
        let (state, noOutput) = ProtocolStateMachine.next(
            packet.ipProtocol, state: current.state, direction: packet.direction, event: packet.event,
            noOutput: current.flags & Self.noOutputFlag != 0)
        var next = current
        next.state = state
        var flags = current.flags & ~(Self.inactiveFlag | Self.noOutputFlag)
        if !ProtocolStateMachine.isActive(packet.ipProtocol, state: state) { flags |= Self.inactiveFlag }
        if noOutput { flags |= Self.noOutputFlag }
        next.flags = flags
        next.expiry = now.adding(seconds: timeout(packet.ipProtocol, state: state, timeouts))
        return next
    }

    /// A transition that moves the connection between active and inactive: made under its service's lock, so that
    /// the scheduler's counters change in the same order as the connection (a concurrent release of the
    /// connection waits for the lock, and sees the counters this transition left).
    @usableFromInline
    func transitionUnderLock(_ key: ConnectionKey, _ packet: BalancerPacket, now: Timestamp) -> ConnectionValue? {
        guard let seen = table.lookup(key, now: now) else { return nil }
        let (d, s, _) = Self.unpack(seen)
        let destination = destinationKeys[d]
        return serviceSlots[s].state.withLock { st -> ConnectionValue? in
            var nowActive: Bool? = nil
            let timeouts = timeoutWords.words
            let result = table.update(key, now: now) { current in
                let next = Self.transition(current, packet, now: now, timeouts: timeouts)
                nowActive = (next.flags ^ current.flags) & Self.inactiveFlag != 0
                    ? next.flags & Self.inactiveFlag == 0 : nil
                return next == current ? nil : next
            }
            switch result {
            case .updated(_, let new):
                if let active = nowActive {
                    st?.scheduler.connectionChangedActivity(on: destination, nowActive: active)
                }
                return new
            case .declined(let current): return current
            case .notFound: return nil
            }
        }
    }

    @inlinable
    static func timeout(_ ipProtocol: IPProtocol, state: UInt8, _ timeouts: UnsafeMutablePointer<Atomic<UInt64>>)
        -> UInt64
    {
        let i: Int
        switch ipProtocol {
        case .tcp: i = Int(state)
        case .udp: i = 11
        case .sctp: i = 12 + Int(state)
        }
        return timeouts[i].load(ordering: .relaxed)
    }

    @inlinable
    func timeout(_ ipProtocol: IPProtocol, state: UInt8) -> UInt64 {
        Self.timeout(ipProtocol, state: state, timeoutWords.words)
    }

    @inlinable
    func countPacket(_ value: ConnectionValue, _ packet: BalancerPacket, worker: Int) {
        let d = Int(value.destination & Self.slotMask)
        guard destinationAvailable.load(d) != 0 else { return }
        let s = Int(value.service & Self.slotMask)
        let services = configuration.maximumServices
        statistics.countPacket(services + d, bytes: packet.length, direction: packet.direction, shard: worker)
        statistics.countPacket(s, bytes: packet.length, direction: packet.direction, shard: worker)
        statistics.countPacket(services + configuration.maximumDestinations, bytes: packet.length,
                               direction: packet.direction, shard: worker)
    }

    @inlinable
    func decision(_ value: ConnectionValue, _ ipProtocol: IPProtocol) -> BalancerDecision {
        let d = Int(value.destination & Self.slotMask)
        let forwarding = ForwardingMethod(rawValue: UInt32(value.flags >> Self.forwardingShift & 3)) ?? .route
        return BalancerDecision(
            destination: destinationKeys[d], forwarding: forwarding, destinationID: d,
            serviceID: Int(value.service & Self.slotMask), state: value.state,
            isActive: value.flags & Self.inactiveFlag == 0)
    }

    /// A connection's ids: destination slot and service slot (20 bits each), and the controlling template's id + 1
    /// (24 bits, split over the two words' top 12 bits; 0 for none).
    @inlinable
    static func pack(destination: Int, service: Int, template: Int?) -> (UInt32, UInt32) {
        var t: UInt32 = 0
        if let template, template < 0xFF_FFFF { t = UInt32(template + 1) }
        return (UInt32(destination) | (t >> 12) << 20, UInt32(service) | (t & 0xFFF) << 20)
    }

    @inlinable
    static func unpack(_ v: ConnectionValue) -> (destination: Int, service: Int, template: Int?) {
        let t = (v.destination >> 20) << 12 | v.service >> 20
        return (Int(v.destination & slotMask), Int(v.service & slotMask), t == 0 ? nil : Int(t) - 1)
    }

    // MARK: - New connections

    enum Creation {
        case result(BalancerResult)
        /// Another thread inserted the same connection first.
        case raced
    }

    @usableFromInline
    func newConnection(_ packet: BalancerPacket, now: Timestamp, worker: Int) -> BalancerResult {
        guard let s = findService(packet) else { return .noService }
        switch packet.ipProtocol {
        case .tcp:
            let f = TCPFlags(rawValue: packet.event)
            if f.contains(.rst) || !f.contains(.syn) { return .notScheduled }
        case .sctp:
            if packet.event != 1 { return .notScheduled }  // only INIT (an ABORT is not INIT either)
        case .udp: break
        }
        var replaced: ConnectionValue? = nil
        let outcome = serviceSlots[s].state.withLock { st -> Creation in
            guard st != nil, !st!.removed else { return .result(.noService) }
            return create(&st!, slot: s, packet, now: now, worker: worker, replaced: &replaced)
        }
        if let replaced { release(replaced) }
        switch outcome {
        case .result(let r): return r
        case .raced:
            let mark = serviceMark(s)
            guard let key = packet.key(mark: mark),
                  let r = continueConnection(key, packet, now: now, worker: worker) else { return .notScheduled }
            return r
        }
    }

    /// The service a first packet belongs to (ip_vs_ctl.c `ip_vs_service_find`): by firewall mark, then by
    /// protocol, address and port, then a port-zero service on the address.
    func findService(_ packet: BalancerPacket) -> Int? {
        if packet.firewallMark != 0,
           let s = directory.find(.firewallMark(packet.firewallMark, packet.virtual.family)) {
            return s
        }
        if let s = directory.find(.address(packet.ipProtocol, packet.virtual, port: packet.virtualPort)) {
            return s
        }
        return directory.find(.address(packet.ipProtocol, packet.virtual, port: 0))
    }

    func serviceMark(_ s: Int) -> UInt32 {
        serviceSlots[s].state.withLock { st in
            if case .firewallMark(let m, _)? = st?.key { return m }
            return 0
        }
    }

    /// ip_vs_core.c `ip_vs_schedule` and ip_vs_conn.c `ip_vs_conn_new`/`ip_vs_bind_dest`, under the service's lock.
    func create(_ st: inout ServiceState, slot: Int, _ packet: BalancerPacket, now: Timestamp, worker: Int,
                replaced: inout ConnectionValue?) -> Creation {
        expireTemplates(&st, now: now)
        let flow = Flow(packet.ipProtocol, from: packet.client, port: packet.clientPort, to: packet.virtual,
                        port: packet.virtualPort)
        if packet.clientPort == VirtualServer.ftpDataPort { return .result(.notScheduled) }  // "Not scheduling FTPDATA"
        let service = st.scheduler.service
        var template: Int? = nil
        let index: Int
        if service.isPersistent {
            guard let (i, t) = schedulePersistent(&st, flow, now: now) else { return .result(.notScheduled) }
            index = i
            template = t
        } else {
            if case .address(_, _, let port) = service.key, packet.virtualPort != port {
                return .result(.notScheduled)
            }
            guard let i = st.scheduler.schedule(flow, now: now) else { return .result(.notScheduled) }
            index = i
        }
        let d = st.listSlots[index]
        let server = st.scheduler.destinations[index].server
        // The first packet's transition from the initial state, with the destination's conn_flags.
        let (state, noOutput) = ProtocolStateMachine.next(
            packet.ipProtocol, state: ProtocolStateMachine.initialState, direction: packet.direction,
            event: packet.event, noOutput: server.forwarding != .masquerade)
        let active = ProtocolStateMachine.isActive(packet.ipProtocol, state: state)
        var flags = UInt16(server.forwarding.rawValue) << Self.forwardingShift
        if !active { flags |= Self.inactiveFlag }
        if noOutput { flags |= Self.noOutputFlag }
        let ids = Self.pack(destination: d, service: slot, template: template)
        let value = ConnectionValue(destination: ids.0, service: ids.1, state: state, flags: flags,
                                    expiry: now.adding(seconds: timeout(packet.ipProtocol, state: state)))
        let destination = server.key

        if service.flags.contains(.onePacket) && packet.ipProtocol == .udp {
            // IP_VS_CONN_F_ONE_PACKET: not hashed; bound, then released when its packet is sent.
            st.scheduler.connectionBound(to: destination)
            st.scheduler.connectionUnbound(from: destination, wasActive: false)
        } else {
            var mark: UInt32 = 0
            if case .firewallMark(let m, _) = service.key { mark = m }
            guard let key = packet.key(mark: mark) else { return .result(.noService) }
            switch table.insert(key, value, now: now) {
            case .inserted: break
            case .replacedExpired(let old): replaced = old
            case .exists: return .raced
            case .full: return .result(.tableFull)
            case .removedExpired(let old, let current):
                replaced = old  // released by the caller, as after .replacedExpired
                return current == nil ? .result(.tableFull) : .raced
            }
            // ip_vs_bind_dest: counted inactive; the first packet's state may make it active at once.
            st.scheduler.connectionBound(to: destination)
            if active { st.scheduler.connectionChangedActivity(on: destination, nowActive: true) }
            destinationReferences.add(d, 1)
            if let template, Self.unpack(value).template != nil { st.templates.controlAdded(template) }
        }
        let services = configuration.maximumServices
        statistics.countConnection(services + d, shard: worker)
        statistics.countConnection(slot, shard: worker)
        statistics.countConnection(services + configuration.maximumDestinations, shard: worker)
        countPacket(value, packet, worker: worker)
        return .result(.created(decision(value, packet.ipProtocol)))
    }

    /// ip_vs_core.c `ip_vs_sched_persist`: the client's template if `ip_vs_check_template` accepts it, otherwise a
    /// pick and a new template (counted in the destination's persistent connections). Returns the list index and
    /// the template; the template's timer restarts (`ip_vs_conn_put(ct)`).
    func schedulePersistent(_ st: inout ServiceState, _ flow: Flow, now: Timestamp) -> (Int, Int)? {
        let key = PersistenceTemplateKey(service: st.scheduler.service, flow: flow)
        var template: Int? = nil
        if let found = st.templates.lookup(key) {
            let t = st.templates[found]!
            if let i = st.scheduler.destinations.index(of: t.destination),
               !(configuration.persistence.expireQuiescentTemplate && st.scheduler.destinations[i].weight == 0) {
                template = found
            } else {
                st.templates.invalidate(found)
            }
        }
        let index: Int
        if let t = template {
            index = st.scheduler.destinations.index(of: st.templates[t]!.destination)!
        } else {
            guard let i = st.scheduler.schedule(flow, now: now) else { return nil }
            index = i
            let destination = st.scheduler.destinations[i].key
            template = st.templates.create(key, destination: destination,
                                           timeoutSeconds: UInt64(st.scheduler.service.persistenceTimeout), now: now)
            st.scheduler.connectionBound(to: destination, isTemplate: true)
            destinationReferences.add(st.listSlots[i], 1)
        }
        st.templates.refresh(template!, now: now)
        return (index, template!)
    }

    /// Lets the service's templates whose timers ran out go (ip_vs_conn.c `ip_vs_conn_expire` on a template).
    func expireTemplates(_ st: inout ServiceState, now: Timestamp) {
        while let gone = st.templates.popExpired(until: now) {
            st.scheduler.connectionUnbound(from: gone.destination, wasActive: false, isTemplate: true)
            if let d = st.slots[gone.destination] { destinationReferences.subtract(d, 1) }
        }
    }

    /// Releases a connection removed from the table: ip_vs_conn.c `ip_vs_unbind_dest` and `ip_vs_control_del`.
    func release(_ value: ConnectionValue) {
        let (d, s, template) = Self.unpack(value)
        let destination = destinationKeys[d]
        serviceSlots[s].state.withLock { st in
            st?.scheduler.connectionUnbound(from: destination, wasActive: value.flags & Self.inactiveFlag == 0)
            if let template { st?.templates.controlRemoved(template) }
        }
        destinationReferences.subtract(d, 1)
    }

    // MARK: - Expiry and closing

    /// Removes the connections expired at `now` and releases them, lets expired persistence templates go, and
    /// frees the slots of removed destinations and services nothing refers to any more (after
    /// `slotReusePeriodSeconds`). Call it periodically (the kernel's per-connection timers); it runs alongside
    /// packets. Returns the number of connections removed.
    @discardableResult
    public func sweep(now: Timestamp) -> Int {
        let removed = table.sweep(now: now) { _, value in release(value) }
        for slot in serviceSlots {
            slot.state.withLock { st in
                if st != nil { expireTemplates(&st!, now: now) }
            }
        }
        control.withLock { c in reclaim(&c, now: now) }
        return removed
    }

    /// Ends the connection `packet` names, now (the daemon saw it close): it is removed and released. Returns
    /// whether there was one.
    @discardableResult
    public func close(_ packet: BalancerPacket) -> Bool {
        if packet.firewallMark != 0, let key = packet.key(mark: packet.firewallMark), let v = table.remove(key) {
            release(v)
            return true
        }
        guard let key = packet.key(mark: 0), let v = table.remove(key) else { return false }
        release(v)
        return true
    }

    /// The connection `packet` names, as it is (no transition, no counting), or nil.
    public func connection(_ packet: BalancerPacket, now: Timestamp) -> BalancerDecision? {
        if packet.firewallMark != 0, let key = packet.key(mark: packet.firewallMark),
           let v = table.lookup(key, now: now) {
            return decision(v, packet.ipProtocol)
        }
        guard let key = packet.key(mark: 0), let v = table.lookup(key, now: now) else { return nil }
        return decision(v, packet.ipProtocol)
    }

    // MARK: - Rates

    /// Runs the rate estimator (ip_vs_est.c `estimation_timer`) for every 2-second period that ended by `now`,
    /// over the services, destinations and the total. The first call starts the clock. If several periods passed
    /// since the last call, the first sees all the traffic since then and the others none.
    public func tick(now: Timestamp) {
        control.withLock { c in
            guard var next = c.nextEstimation else {
                c.nextEstimation = now.adding(seconds: RateEstimator.periodSeconds)
                return
            }
            var periods = 0
            while next <= now {
                if periods < 64 {
                    for o in c.estimating.indices where c.estimating[o] {
                        c.estimators[o].update(totals: statistics.totals(o))
                    }
                }
                periods += 1
                next = next.adding(seconds: RateEstimator.periodSeconds)
            }
            c.nextEstimation = next
        }
    }

    // MARK: - Timeouts

    /// `ipvsadm --set tcp tcpfin udp`: 0 leaves a value. Applies to each connection from its next packet.
    public func setTimeouts(tcp: UInt32, tcpFin: UInt32, udp: UInt32) throws(BalancerError) {
        try control.withLock { c throws(BalancerError) in
            var t = c.timeouts
            do throws(ProtocolTimeoutError) {
                try t.set(tcp: tcp, tcpFin: tcpFin, udp: udp)
            } catch {
                throw .timeout(error)
            }
            c.timeouts = t
            storeTimeouts(t)
        }
    }

    /// The timeouts in force.
    public var timeouts: ProtocolTimeouts { control.withLock { $0.timeouts } }

    func storeTimeouts(_ t: ProtocolTimeouts) {
        for (i, v) in t.tcp.enumerated() { timeoutWords.store(i, UInt64(v)) }
        timeoutWords.store(11, UInt64(t.udp))
        for (i, v) in t.sctp.enumerated() { timeoutWords.store(12 + i, UInt64(v)) }
    }
}

/// One service slot: its state behind its own lock.
final class ServiceSlot: Sendable {
    let state = GuardedState<ServiceState?>(nil)
}

/// A service's live state in the balancer.
struct ServiceState {
    var key: ServiceKey
    var scheduler: ServiceScheduler
    var templates = PersistenceTemplateTable()
    /// The destination slot of each entry of `scheduler.destinations`, in list order.
    var listSlots: [Int]
    /// The slot of every destination that has one: those in the list, and removed ones still referred to.
    var slots: [DestinationKey: Int]
    /// Removed from the balancer; kept until nothing refers to it.
    var removed = false
}

/// Slot bookkeeping and rate estimators, under the balancer's control lock.
struct ControlState {
    struct Retired {
        var slot: Int
        /// When its reference count was first seen at 0 (by `sweep`).
        var idleSince: Timestamp?
    }

    var services: [ServiceKey: Int] = [:]
    var freeServices: [Int]
    var freeDestinations: [Int]
    var retiredDestinations: [Retired] = []
    var retiredServices: [Retired] = []
    var estimators: [RateEstimator]
    /// Which statistics objects have a running estimator.
    var estimating: [Bool]
    var nextEstimation: Timestamp?
    var timeouts: ProtocolTimeouts

    init(services: Int, destinations: Int, timeouts: ProtocolTimeouts) {
        freeServices = Array((0..<services).reversed())
        freeDestinations = Array((0..<destinations).reversed())
        estimators = Array(repeating: RateEstimator(), count: services + destinations + 1)
        estimating = Array(repeating: false, count: services + destinations + 1)
        self.timeouts = timeouts
    }
}
