/// A virtual service as the kernel runs it for new connections: its scheduler (`ServiceScheduler`), its persistence
/// templates, and the connections it made, bound to their destinations' counters.
///
/// `newConnection` does what ip_vs_core.c `ip_vs_schedule` does for the first packet of a connection — through
/// `ip_vs_sched_persist` on a persistent service — and binds the new connection as ip_vs_conn.c `ip_vs_bind_dest`
/// does; `connectionEstablished` and `connectionClosed` carry on the counters the way the protocol state machine and
/// `ip_vs_conn_expire` do. `predict` answers the one-shot question "which destination does the kernel choose for this
/// client?".
///
/// Time: every call takes a `now`; calls are expected in time order (an earlier `now` is treated as the latest one
/// seen). Template timers due at or before `now` fire before the call does its work.
///
/// Modelled as the kernel does it:
/// - template keys (see `PersistenceTemplateKey`), the template's timeout (`svc->timeout` when created), its timer
///   restarted by every connection made through it, kept while it controls connections (re-checked every 60 s, with
///   its timeout then 60 s), and counted in its destination's `persistentConnections` until it is let go;
/// - `ip_vs_check_template`: a template whose destination is not in the list (deleted) — or, with
///   `expireQuiescentTemplate`, has weight 0 — is invalidated (rehashed under virtual port 0xffff, still counted,
///   timer untouched) and the client is scheduled afresh; an overloaded destination keeps its persistent clients,
///   and so does a quiesced one by default; a deleted destination re-added before the client returns keeps them too;
/// - source port 20 (`FTPDATA`) is never scheduled; a non-persistent address service schedules only packets to its
///   port; one-packet scheduling (UDP on a `.onePacket` service) binds and at once unbinds the connection.
///
/// Not modelled: the kernel's template table is shared by all services of a network namespace, so an FTP service
/// and a port-zero service on the same address and protocol share templates (here each `VirtualServer` has its own);
/// persistence engines (`--pe sip`) match templates on SIP Call-IDs, which needs the payload; replies from a local
/// real server (`skb->dev` loopback), connection reuse of TCP TIME_WAIT entries (`conn_reuse_mode`),
/// `expire_nodest_conn` and the dropping of non-assured templates when a controlled connection is deleted early are
/// left to the caller.
/// The flow is taken to belong to this service (as ip_vs_ctl.c `ip_vs_service_find` matched it).
public struct VirtualServer: Sendable {
    /// A connection this server made and has not seen end.
    public struct Connection: Hashable, Sendable {
        public var destination: DestinationKey
        /// The template that controls it (`cp->control`), on a persistent service.
        public var template: PersistenceTemplateTable.ID?
        /// Whether it counts in `activeConnections` (else in `inactiveConnections`).
        public var isActive: Bool
    }

    public private(set) var scheduler: ServiceScheduler
    public private(set) var templates: PersistenceTemplateTable
    public private(set) var connections: [Flow: Connection]
    public var settings: PersistenceSettings
    /// The latest time seen.
    public private(set) var clock: Timestamp

    /// `FTPDATA` (include/net/ip_vs.h): connections from this source port are never scheduled.
    public static let ftpDataPort: UInt16 = 20

    public init(_ scheduler: ServiceScheduler, settings: PersistenceSettings = PersistenceSettings()) {
        self.scheduler = scheduler
        self.settings = settings
        templates = PersistenceTemplateTable()
        connections = [:]
        clock = .zero
    }

    /// A new service with `servers` added one after another (the last ends up at the head of the list).
    public init(_ service: VirtualService, servers: [RealServer] = [],
                settings: PersistenceSettings = PersistenceSettings()) throws(IPVSConfigurationError) {
        self.init(try ServiceScheduler(service, servers: servers), settings: settings)
    }

    /// A service whose destinations are given in kernel list order, with their counters.
    public init(_ service: VirtualService, kernelOrder: [DestinationState],
                settings: PersistenceSettings = PersistenceSettings()) throws(IPVSConfigurationError) {
        self.init(try ServiceScheduler(service, kernelOrder: kernelOrder), settings: settings)
    }

    public var service: VirtualService { scheduler.service }
    public var destinations: DestinationList { scheduler.destinations }

    /// The state of destination `key`, in the list or in the trash.
    public func destination(_ key: DestinationKey) -> DestinationState? {
        if let i = scheduler.destinations.index(of: key) { return scheduler.destinations[i] }
        return scheduler.trash[key]
    }

    // MARK: - Connections

    /// The destination the kernel chooses for the first packet of `flow`, or `nil` where it schedules none; the
    /// connection is then bound to it (inactive, as every new connection starts). ip_vs_core.c `ip_vs_schedule`,
    /// `ip_vs_sched_persist`; ip_vs_conn.c `ip_vs_conn_new`, `ip_vs_bind_dest`, `ip_vs_check_template`.
    ///
    /// A flow that already has a connection here is not scheduled again: its destination is returned unchanged, as
    /// the kernel would find the connection before scheduling.
    public mutating func newConnection(_ flow: Flow, now: Timestamp) -> DestinationKey? {
        let now = advanceClock(to: now)
        if let existing = connections[flow] { return existing.destination }
        if flow.sourcePort == Self.ftpDataPort { return nil }  // "Not scheduling FTPDATA"
        let svc = scheduler.service
        if svc.isPersistent { return scheduleWithPersistence(flow, now: now) }
        if case .address(_, _, let port) = svc.key, flow.destinationPort != port { return nil }
        guard let i = scheduler.schedule(flow, now: now) else { return nil }
        let dest = scheduler.destinations[i].key
        bind(flow, to: dest, template: nil)
        return dest
    }

    /// ip_vs_core.c `ip_vs_sched_persist`.
    private mutating func scheduleWithPersistence(_ flow: Flow, now: Timestamp) -> DestinationKey? {
        let key = PersistenceTemplateKey(service: scheduler.service, flow: flow)
        var template: PersistenceTemplateTable.ID? = nil
        if let found = templates.lookup(key) {
            if templateIsUsable(templates[found]!) {
                template = found
            } else {
                templates.invalidate(found)
            }
        }
        let dest: DestinationKey
        if let template {
            dest = templates[template]!.destination
        } else {
            guard let i = scheduler.schedule(flow, now: now) else { return nil }
            dest = scheduler.destinations[i].key
            let timeout = UInt64(scheduler.service.persistenceTimeout)
            let t = templates.create(key, destination: dest, timeoutSeconds: timeout, now: now)
            scheduler.connectionBound(to: dest, isTemplate: true)
            template = t
        }
        bind(flow, to: dest, template: template)
        templates.refresh(template!, now: now)  // ip_vs_conn_put(ct): restart its timer
        return dest
    }

    /// ip_vs_conn.c `ip_vs_check_template`: the template's destination must be in the list (AVAILABLE), and not
    /// quiesced when `expire_quiescent_template` is set. Overload does not matter.
    private func templateIsUsable(_ t: PersistenceTemplate) -> Bool {
        guard let i = scheduler.destinations.index(of: t.destination) else { return false }
        if settings.expireQuiescentTemplate && scheduler.destinations[i].weight == 0 { return false }
        return true
    }

    /// ip_vs_conn.c `ip_vs_conn_new` → `ip_vs_bind_dest`, and `ip_vs_control_add`. A one-packet connection (UDP on a
    /// one-packet service) is released as soon as its packet is sent (`ip_vs_conn_put` → `ip_vs_conn_expire`).
    private mutating func bind(_ flow: Flow, to dest: DestinationKey, template: PersistenceTemplateTable.ID?) {
        scheduler.connectionBound(to: dest)
        if scheduler.service.flags.contains(.onePacket) && flow.ipProtocol == .udp {
            scheduler.connectionUnbound(from: dest, wasActive: false)
            return
        }
        connections[flow] = Connection(destination: dest, template: template, isActive: false)
        if let template { templates.controlAdded(template) }
    }

    /// The connection of `flow` entered (`true`) or left (`false`) an established state: it moves between the
    /// inactive and active counters (ip_vs_proto_tcp.c `set_tcp_state`, ip_vs_proto_sctp.c `set_sctp_state`).
    public mutating func connectionChangedActivity(_ flow: Flow, nowActive: Bool, now: Timestamp) {
        advanceClock(to: now)
        guard let c = connections[flow], c.isActive != nowActive else { return }
        connections[flow]!.isActive = nowActive
        scheduler.connectionChangedActivity(on: c.destination, nowActive: nowActive)
    }

    /// The connection of `flow` reached an established state.
    public mutating func connectionEstablished(_ flow: Flow, now: Timestamp) {
        connectionChangedActivity(flow, nowActive: true, now: now)
    }

    /// The connection of `flow` ended (its timer ran out): ip_vs_conn.c `ip_vs_conn_expire` — `ip_vs_control_del`
    /// and `ip_vs_unbind_dest`. Its template's timer is not restarted.
    public mutating func connectionClosed(_ flow: Flow, now: Timestamp) {
        advanceClock(to: now)
        guard let c = connections.removeValue(forKey: flow) else { return }
        if let t = c.template { templates.controlRemoved(t) }
        scheduler.connectionUnbound(from: c.destination, wasActive: c.isActive)
    }

    /// Lets time pass: templates whose timers ran out and that control no connection are released and uncounted.
    public mutating func advance(to now: Timestamp) {
        advanceClock(to: now)
    }

    @discardableResult
    private mutating func advanceClock(to now: Timestamp) -> Timestamp {
        if now > clock { clock = now }
        while let gone = templates.popExpired(until: clock) {
            scheduler.connectionUnbound(from: gone.destination, wasActive: false, isTemplate: true)
        }
        return clock
    }

    /// The template `flow` would find now (`ip_vs_ct_in_get`), valid or not.
    public func template(for flow: Flow) -> PersistenceTemplate? {
        templates.lookup(PersistenceTemplateKey(service: scheduler.service, flow: flow)).flatMap { templates[$0] }
    }

    /// Takes in a template that exists already (e.g. as listed in the kernel's connection table), expiring at
    /// `expires`, with the service's persistence timeout. It is assumed to be counted already in its destination's
    /// `persistentConnections`; it is uncounted when it expires.
    @discardableResult
    public mutating func adoptTemplate(_ key: PersistenceTemplateKey, destination: DestinationKey, expires: Timestamp,
                                       controlledConnections: Int = 0) -> PersistenceTemplateTable.ID {
        templates.insert(key, destination: destination, expires: expires,
                         timeoutSeconds: UInt64(scheduler.service.persistenceTimeout),
                         controlledConnections: controlledConnections)
    }

    // MARK: - Configuration (ipvsadm -E, -a, -e, -d), as `ServiceScheduler`

    /// `ipvsadm -E`. Existing templates keep their timeouts and keys; a changed netmask or timeout applies to new ones.
    public mutating func editService(_ new: VirtualService) throws(IPVSConfigurationError) {
        try scheduler.editService(new)
    }

    public mutating func addDestination(_ server: RealServer) throws(IPVSConfigurationError) {
        try scheduler.addDestination(server)
    }

    public mutating func editDestination(_ server: RealServer) throws(IPVSConfigurationError) {
        try scheduler.editDestination(server)
    }

    /// `ipvsadm -d`. Its connections and templates stay bound to it in the trash, counted, until they end.
    public mutating func removeDestination(_ key: DestinationKey) throws(IPVSConfigurationError) {
        try scheduler.removeDestination(key)
    }

    /// Sets a destination's counters directly (e.g. from a kernel dump), beside the connections made here.
    public mutating func setCounters(
        of key: DestinationKey, active: Int32, inactive: Int32, persistent: Int32? = nil, overloaded: Bool? = nil
    ) {
        scheduler.setCounters(of: key, active: active, inactive: inactive, persistent: persistent,
                              overloaded: overloaded)
    }

    // MARK: - Prediction

    /// The destination the kernel chooses for a new connection from `client`:`clientPort` to `service`, whose
    /// destinations are `destinations` in kernel list order (index 0 = the head, as `ipvsadm -Ln` lists them) with
    /// their counters and overload flags; `nil` where the kernel schedules none.
    ///
    /// - `virtualAddress`, `virtualPort`, `ipProtocol`: the packet's destination and protocol; by default the
    ///   service's own (a firewall-mark service has none: give them, or the unspecified address, port 0 and TCP are
    ///   used).
    /// - `existingTemplate`: on a persistent service, the destination of a live template this client already has
    ///   (already counted in `destinations`); `ip_vs_check_template` then decides whether it holds.
    /// - Stateful schedulers start from their initial state: rr and wrr from their first pick, lblc and lblcr with
    ///   an empty cache. For a running service, keep a `VirtualServer` and feed it every change instead.
    public static func predict(
        service: VirtualService,
        destinations: [DestinationState],
        client: IPAddress,
        clientPort: UInt16,
        virtualAddress: IPAddress? = nil,
        virtualPort: UInt16? = nil,
        ipProtocol: IPProtocol? = nil,
        existingTemplate: DestinationKey? = nil,
        settings: PersistenceSettings = PersistenceSettings()
    ) throws(IPVSConfigurationError) -> DestinationKey? {
        var server = try VirtualServer(service, kernelOrder: destinations, settings: settings)
        let flow = Flow(
            ipProtocol ?? service.key.ipProtocol ?? .tcp, from: client, port: clientPort,
            to: virtualAddress ?? service.virtualAddress, port: virtualPort ?? service.virtualPort)
        if let existingTemplate, service.isPersistent {
            server.adoptTemplate(PersistenceTemplateKey(service: service, flow: flow), destination: existingTemplate,
                                 expires: Timestamp.zero.adding(seconds: UInt64(service.persistenceTimeout)))
        }
        return server.newConnection(flow, now: .zero)
    }
}

extension VirtualService {
    /// The service's address, or for a firewall-mark service the unspecified address of its family.
    fileprivate var virtualAddress: IPAddress {
        switch key {
        case .address(_, let a, _): return a
        case .firewallMark(_, .inet): return .v4(IPv4Address(0))
        case .firewallMark(_, .inet6): return .v6(IPv6Address(high: 0, low: 0))
        }
    }

    /// The service's port; 0 for a firewall-mark service.
    fileprivate var virtualPort: UInt16 {
        if case .address(_, _, let p) = key { return p }
        return 0
    }
}
