import IPVSCore

/// What the verifier assumes about the connections' lives, which the lc family's counters depend on (a connection
/// counts 257 in `ip_vs_dest_conn_overhead` while it is active, 1 while it is inactive, 0 once it has expired).
/// Schedulers that read no counters (rr, wrr, sh, dh, mh, and persistence) predict the same under every choice.
public enum ConnectionLifecycle: Hashable, Sendable {
    /// Every connection counts as inactive from its first packet to the end of the capture and none expires. True
    /// for UDP within its timeout (300 s), and for short TCP connections that each end before the next one starts,
    /// within TIME_WAIT's 120 s (the kernel keeps a closed connection, inactive, until then).
    case inactiveUntilEnd
    /// Every TCP or SCTP connection counts as active from its first packet to the end of the capture (long-lived
    /// connections that the capture saw open and never saw close). UDP connections are inactive all the same.
    case activeUntilEnd
    /// The caller feeds every packet of every connection (`Verifier.packet`): the verifier runs the kernel's state
    /// machines and timeouts (IPVSCore `ProtocolStateMachine`, `ProtocolTimeouts`) per connection, so counters move
    /// and connections expire as in the kernel.
    case tracked(ProtocolTimeouts)

    /// Stable name for the JSON report: `inactive-until-end`, `active-until-end`, `tracked`.
    public var name: String {
        switch self {
        case .inactiveUntilEnd: return "inactive-until-end"
        case .activeUntilEnd: return "active-until-end"
        case .tracked: return "tracked"
        }
    }

    /// One sentence for the text report.
    public var explanation: String {
        switch self {
        case .inactiveUntilEnd:
            return "every connection counts as inactive from its first packet until the end and none expires "
                + "(UDP; short TCP connections closed before the next, within TIME_WAIT's 120 s)"
        case .activeUntilEnd:
            return "every TCP/SCTP connection counts as active from its first packet until the end"
        case .tracked:
            return "every packet fed to the kernel's state machines and timeouts"
        }
    }
}

/// How the verifier rebuilds a service's scheduler state from a table snapshot. A snapshot has the destinations,
/// their order and counters, not the scheduler's private state, which for wrr depends on the history of edits
/// (ip_vs_wrr.c `ip_vs_wrr_dest_changed` keeps the current weight `cw` across changes) and for mh on each
/// destination's `last_weight`.
public enum SchedulerStartState: String, Hashable, Sendable {
    /// The service as created empty and given its destinations one `ipvsadm -a` at a time, deepest in the list
    /// first (the kernel adds at the head), then the snapshot's counters: what `ipvsadm -R`, kube-proxy or any tool
    /// that builds a table by successive additions leaves, before any traffic. The default.
    case replayAdditions = "replay-additions"
    /// The scheduler initialised over the finished list (`init_service` after the fact): rr and wrr from their
    /// first pick.
    case freshOverList = "fresh-over-list"
}

/// How the verifier runs.
public struct VerifierOptions: Hashable, Sendable {
    public var lifecycle: ConnectionLifecycle
    public var startState: SchedulerStartState
    /// The director's `expire_quiescent_template` sysctl.
    public var persistence: PersistenceSettings
    /// Keep a verdict for every connection (true), or only for those that did not agree (false: for long captures).
    public var recordEveryConnection: Bool

    public init(lifecycle: ConnectionLifecycle = .inactiveUntilEnd, startState: SchedulerStartState = .replayAdditions,
                persistence: PersistenceSettings = PersistenceSettings(), recordEveryConnection: Bool = true) {
        self.lifecycle = lifecycle
        self.startState = startState
        self.persistence = persistence
        self.recordEveryConnection = recordEveryConnection
    }
}

/// Why the verifier refused a table change; the model is unchanged.
public enum VerifierError: Error, Hashable, Sendable, CustomStringConvertible {
    case noSuchService(ServiceKey)
    case serviceExists(ServiceKey)
    case configuration(ServiceKey, IPVSConfigurationError)

    public var description: String {
        switch self {
        case .noSuchService(let k): return "no service \(k) in the verifier's table"
        case .serviceExists(let k): return "service \(k) is already in the verifier's table"
        case .configuration(let k, let e): return "service \(k): \(e)"
        }
    }
}

/// Replays observed new connections, in capture order, through IPVSCore's scheduler and persistence for the same
/// service state as the kernel's, and checks each of the kernel's choices against IPVSCore's prediction.
///
/// The model is kept in step with the kernel: each connection is bound to the destination IPVSCore chose (as
/// ip_vs_conn.c `ip_vs_bind_dest` binds it), its counters then move as `ConnectionLifecycle` says, persistence
/// templates live and expire on the capture's clock, and table changes are applied at the time they happened.
///
/// After a disagreement the model keeps its own choice (its counters, rr cursor and templates are IPVSCore's, not
/// the kernel's), so later verdicts of the same service may follow from the first one: look at the first mismatch.
public struct Verifier: Sendable {
    public let options: VerifierOptions

    private var servers: [ServiceKey: VirtualServer] = [:]
    /// Services in the order they were first seen (the table's order, then additions).
    private var serviceOrder: [ServiceKey] = []
    private var tallies: [ServiceKey: ServiceTally] = [:]
    /// Live connections (client side) and the service they belong to.
    private var liveConnections: [Flow: ServiceKey] = [:]
    /// Protocol state of each live connection, with `.tracked`.
    private var tracked: [Flow: TrackedConnection] = [:]
    /// Connection timers; entries a later packet made stale are skipped when popped.
    private var timers = TimerHeap<CaptureTime, Flow>()
    /// Per persistent service, the latest connection of each template key (the client's persistence network).
    private var lastUse: [ServiceKey: [PersistenceTemplateKey: LastUse]] = [:]

    private var verdicts: [ConnectionVerdict] = []
    private var violations: [PersistenceViolation] = []
    private var changes: [AppliedTableChange] = []
    private var summary = VerificationReport.Summary()
    private var firstTime: CaptureTime? = nil
    private var clock = CaptureTime(nanoseconds: 0)

    /// Starts from `table`: each service with its destinations in kernel list order and their counters.
    public init(table: [ServiceSnapshot], options: VerifierOptions = VerifierOptions()) throws(VerifierError) {
        self.options = options
        for s in table {
            let key = s.service.key
            guard servers[key] == nil else { throw .serviceExists(key) }
            do throws(IPVSConfigurationError) {
                switch options.startState {
                case .freshOverList:
                    servers[key] = try VirtualServer(s.service, kernelOrder: s.destinations,
                                                     settings: options.persistence)
                case .replayAdditions:
                    var server = try VirtualServer(s.service, servers: s.destinations.reversed().map(\.server),
                                                   settings: options.persistence)
                    for d in s.destinations {
                        server.setCounters(of: d.key, active: d.activeConnections, inactive: d.inactiveConnections,
                                           persistent: d.persistentConnections, overloaded: d.overloaded)
                    }
                    servers[key] = server
                }
            } catch {
                throw .configuration(key, error)
            }
            serviceOrder.append(key)
            tallies[key] = ServiceTally(destinations: s.destinations.map(\.key))
        }
    }

    /// Verifies `connections` (in capture order) against `table`, applying each of `changes` before the first
    /// connection seen at or after its time.
    public static func verify(
        _ connections: some Sequence<ObservedConnection>, table: [ServiceSnapshot],
        changes: [TimedTableChange] = [], options: VerifierOptions = VerifierOptions()
    ) throws(VerifierError) -> VerificationReport {
        var verifier = try Verifier(table: table, options: options)
        var pending = changes.sorted { $0.time < $1.time }[...]
        for c in connections {
            while let next = pending.first, next.time <= c.firstSeen {
                try verifier.apply(next.change, at: next.time)
                pending = pending.dropFirst()
            }
            verifier.observe(c)
        }
        for rest in pending { try verifier.apply(rest.change, at: rest.time) }
        return verifier.report()
    }

    // MARK: - Table changes

    /// Applies a table change that happened at `time`. A change the model refuses (as the kernel would have
    /// refused it) throws and changes nothing.
    public mutating func apply(_ change: TableChange, at time: CaptureTime) throws(VerifierError) {
        advance(to: time)
        let key = change.serviceKey
        if case .addService = change {
            guard servers[key] == nil else { throw .serviceExists(key) }
        } else {
            guard servers[key] != nil else { throw .noSuchService(key) }
        }
        do throws(IPVSConfigurationError) {
            switch change {
            case .addService(let s):
                servers[key] = try VirtualServer(s, settings: options.persistence)
                if tallies[key] == nil {
                    serviceOrder.append(key)
                    tallies[key] = ServiceTally(destinations: [])
                }
            case .editService(let s):
                try servers[key]!.editService(s)
            case .deleteService:
                servers[key] = nil
                lastUse[key] = nil
            case .addDestination(_, let r):
                try servers[key]!.addDestination(r)
                tallies[key]!.note(r.key)
            case .editDestination(_, let r):
                try servers[key]!.editDestination(r)
            case .deleteDestination(_, let d):
                try servers[key]!.removeDestination(d)
            }
        } catch {
            throw .configuration(key, error)
        }
        changes.append(AppliedTableChange(time: time, change: change, beforeConnection: summary.connections))
    }

    // MARK: - Connections

    /// Checks one new connection, seen first at `connection.firstSeen`, against IPVSCore's prediction, and binds it
    /// in the model. Connections must come in capture order.
    @discardableResult
    public mutating func observe(_ connection: ObservedConnection) -> ConnectionVerdict {
        let now = connection.firstSeen
        advance(to: now)
        if firstTime == nil { firstTime = now }
        let index = summary.connections
        summary.connections += 1

        guard let key = serviceKey(for: connection) else {
            summary.noService += 1
            let v = ConnectionVerdict(index: index, connection: connection, service: nil, predicted: nil,
                                      verdict: .noService)
            record(v)
            return v
        }
        let flow = Flow(connection.transport, from: connection.client, port: connection.clientPort,
                        to: connection.virtualAddress, port: connection.virtualPort)
        // The same tuple again: the kernel (conn_reuse_mode) lets the old connection go and schedules afresh.
        if let previousKey = liveConnections.removeValue(forKey: flow) {
            servers[previousKey]?.connectionClosed(flow, now: Self.timestamp(now))
            tracked[flow] = nil
        }

        // Taken out of the dictionary while it changes, so that its storage stays uniquely referenced (no copy).
        var server = servers.removeValue(forKey: key)!
        tallies[key]!.addWeightShares(server.destinations)
        let templateKey = server.service.isPersistent ? PersistenceTemplateKey(service: server.service, flow: flow) : nil
        let predicted = server.newConnection(flow, now: Self.timestamp(now))
        if let predicted, server.connections[flow] != nil {
            liveConnections[flow] = key
            startLifecycle(flow, of: &server, destination: predicted, at: now)
        }
        let predictedDestination = predicted.flatMap { server.destination($0) }
        let observedDestination = Self.resolve(connection, in: server, predicted: predictedDestination)
        servers[key] = server

        let verdict: Verdict
        if connection.realServer == nil {
            verdict = .notForwarded
            summary.notForwarded += 1
        } else if let p = predictedDestination, Self.agrees(connection, p.server) {
            verdict = .match
            summary.matched += 1
        } else {
            verdict = .mismatch
            summary.mismatched += 1
        }
        tallies[key]!.count(verdict, predicted: predicted, observed: observedDestination)

        if let templateKey, let observed = observedDestination {
            checkPersistence(templateKey, service: server.service, connection: connection, index: index,
                             observed: observed, predicted: predicted)
        }
        let v = ConnectionVerdict(index: index, connection: connection, service: key, predicted: predicted,
                                  verdict: verdict)
        record(v)
        return v
    }

    /// One packet of a live connection, named by its client side (client → virtual address), travelling
    /// `direction`: with `.tracked`, it moves the connection through the kernel's state machine (`event`: the TCP
    /// flags byte, the first SCTP chunk's type, anything for UDP) and restarts its timer; otherwise it only lets
    /// time pass. Packets of connections the verifier does not know are ignored.
    public mutating func packet(of flow: Flow, direction: PacketDirection, event: UInt8, at time: CaptureTime) {
        advance(to: time)
        guard case .tracked(let timeouts) = options.lifecycle, var t = tracked[flow],
            let key = liveConnections[flow]
        else { return }
        let (state, noOutput) = ProtocolStateMachine.next(flow.ipProtocol, state: t.state, direction: direction,
                                                          event: event, noOutput: t.noOutput)
        let wasActive = ProtocolStateMachine.isActive(flow.ipProtocol, state: t.state)
        let isActive = ProtocolStateMachine.isActive(flow.ipProtocol, state: state)
        if wasActive != isActive {
            servers[key]?.connectionChangedActivity(flow, nowActive: isActive, now: Self.timestamp(time))
        }
        t.state = state
        t.noOutput = noOutput
        t.deadline = time.adding(seconds: timeouts.seconds(flow.ipProtocol, state: state))
        tracked[flow] = t
        timers.push(t.deadline, flow)
    }

    /// A connection ended (its entry expired in the kernel): it is unbound from its destination.
    public mutating func connectionEnded(_ flow: Flow, at time: CaptureTime) {
        advance(to: time)
        guard let key = liveConnections.removeValue(forKey: flow) else { return }
        tracked[flow] = nil
        servers[key]?.connectionClosed(flow, now: Self.timestamp(time))
    }

    /// Lets time pass to `time`: tracked connections whose timers ran out expire.
    public mutating func advance(to time: CaptureTime) {
        if time > clock { clock = time }
        while let (deadline, flow) = timers.popDue(clock) {
            guard let t = tracked[flow], t.deadline == deadline else { continue }  // restarted since
            tracked[flow] = nil
            if let key = liveConnections.removeValue(forKey: flow) {
                servers[key]?.connectionClosed(flow, now: Self.timestamp(deadline))
            }
        }
        // Persistence templates expire as each service is next used (VirtualServer advances its own clock).
    }

    /// The model's current state of service `key` (its destinations and counters), e.g. to compare with the
    /// kernel's.
    public func model(of key: ServiceKey) -> VirtualServer? { servers[key] }

    // MARK: - Report

    public func report() -> VerificationReport {
        var services: [VerificationReport.ServiceReport] = []
        for key in serviceOrder {
            guard let tally = tallies[key] else { continue }
            let server = servers[key]
            var rows: [VerificationReport.DestinationRow] = []
            var listed = Set<DestinationKey>()
            // The live list first, in kernel order, then destinations deleted during the run.
            for d in server?.destinations ?? DestinationList() {
                listed.insert(d.key)
                rows.append(tally.row(d.key, weight: d.weight, inTable: true))
            }
            for d in tally.destinationOrder where !listed.contains(d) {
                rows.append(tally.row(d, weight: server?.destination(d)?.weight, inTable: false))
            }
            services.append(VerificationReport.ServiceReport(
                key: key, service: server?.service, connections: tally.connections, matched: tally.matched,
                mismatched: tally.mismatched, notForwarded: tally.notForwarded, destinations: rows))
        }
        return VerificationReport(lifecycle: options.lifecycle, startState: options.startState, firstTime: firstTime,
                                  lastTime: firstTime == nil ? nil : clock, summary: summary, services: services,
                                  tableChanges: changes, connections: verdicts, persistenceViolations: violations)
    }

    // MARK: - Internals

    private static func timestamp(_ t: CaptureTime) -> Timestamp { Timestamp(nanoseconds: t.nanoseconds) }

    /// The service the kernel finds for the connection, as ip_vs_ctl.c `ip_vs_service_find` looks: the firewall
    /// mark first (when known), then protocol, address and port, then a port-zero service on the address.
    private func serviceKey(for c: ObservedConnection) -> ServiceKey? {
        if let mark = c.firewallMark {
            let k = ServiceKey.firewallMark(mark, c.virtualAddress.family)
            if servers[k] != nil { return k }
        }
        let exact = ServiceKey.address(c.transport, c.virtualAddress, port: c.virtualPort)
        if servers[exact] != nil { return exact }
        let any = ServiceKey.address(c.transport, c.virtualAddress, port: 0)
        return servers[any] != nil ? any : nil
    }

    /// Whether the connection left for `server`: same address and, for NAT (the only method that rewrites the
    /// port), the same port when the capture saw it.
    static func agrees(_ c: ObservedConnection, _ server: RealServer) -> Bool {
        guard let address = c.realServer, address == server.address else { return false }
        if server.forwarding == .masquerade, let port = c.realPort, port != server.port { return false }
        return true
    }

    /// The destination of the service (listed or deleted) the connection was seen going to; the predicted one when
    /// it fits, so that two destinations on one address are told apart by the port where the capture has it.
    static func resolve(_ c: ObservedConnection, in server: VirtualServer, predicted: DestinationState?)
        -> DestinationKey?
    {
        guard let address = c.realServer else { return nil }
        if let p = predicted, agrees(c, p.server) { return p.key }
        let candidates = Array(server.destinations.map(\.key)) + server.scheduler.trash.keys.sorted {
            $0.description < $1.description
        }
        if let port = c.realPort, let exact = candidates.first(where: { $0.address == address && $0.port == port }) {
            return exact
        }
        if let same = candidates.first(where: { $0.address == address }) { return same }
        return DestinationKey(address: address, port: c.realPort ?? c.virtualPort)
    }

    private mutating func startLifecycle(_ flow: Flow, of server: inout VirtualServer, destination: DestinationKey,
                                         at now: CaptureTime) {
        switch options.lifecycle {
        case .inactiveUntilEnd:
            break
        case .activeUntilEnd:
            if flow.ipProtocol != .udp { server.connectionEstablished(flow, now: Self.timestamp(now)) }
        case .tracked(let timeouts):
            // The first packet: a TCP SYN, an SCTP INIT (chunk type 1), a UDP datagram. A connection to a
            // destination that does not masquerade starts with IP_VS_CONN_F_NOOUTPUT (ip_vs_ctl.c
            // `__ip_vs_update_dest` puts it in the destination's conn_flags).
            let event: UInt8 = flow.ipProtocol == .tcp ? TCPFlags.syn.rawValue : 1
            let noOutput = server.destination(destination)?.server.forwarding != .masquerade
            let (state, stillNoOutput) = ProtocolStateMachine.next(
                flow.ipProtocol, state: ProtocolStateMachine.initialState, direction: .input, event: event,
                noOutput: noOutput)
            if ProtocolStateMachine.isActive(flow.ipProtocol, state: state) {
                server.connectionEstablished(flow, now: Self.timestamp(now))
            }
            let deadline = now.adding(seconds: timeouts.seconds(flow.ipProtocol, state: state))
            tracked[flow] = TrackedConnection(state: state, noOutput: stillNoOutput, deadline: deadline)
            timers.push(deadline, flow)
        }
    }

    private mutating func checkPersistence(_ templateKey: PersistenceTemplateKey, service: VirtualService,
                                           connection: ObservedConnection, index: Int, observed: DestinationKey,
                                           predicted: DestinationKey?) {
        let key = service.key
        let now = connection.firstSeen
        if let last = lastUse[key]?[templateKey], last.destination != observed,
            now.nanoseconds - min(now.nanoseconds, last.time.nanoseconds)
                <= UInt64(service.persistenceTimeout) * 1_000_000_000
        {
            let explained = predicted == observed
            violations.append(PersistenceViolation(
                service: key, connectionIndex: index, client: connection.client,
                clientNetwork: templateKey.clientNetwork, previous: last.destination,
                previousTime: last.time, current: observed, time: now, explainedByModel: explained))
            summary.persistenceViolations += 1
            if !explained { summary.unexplainedPersistenceViolations += 1 }
        }
        lastUse[key, default: [:]][templateKey] = LastUse(destination: observed, time: now)
    }

    private mutating func record(_ v: ConnectionVerdict) {
        if options.recordEveryConnection || v.verdict != .match { verdicts.append(v) }
    }
}

// MARK: - Bookkeeping

struct TrackedConnection: Sendable {
    var state: UInt8
    var noOutput: Bool
    var deadline: CaptureTime
}

struct LastUse: Sendable {
    var destination: DestinationKey
    var time: CaptureTime
}

/// Per-service counts while verifying.
struct ServiceTally: Sendable {
    struct PerDestination: Sendable {
        var observed = 0
        var predicted = 0
        var expectedByWeight = 0.0
    }

    var connections = 0
    var matched = 0
    var mismatched = 0
    var notForwarded = 0
    var perDestination: [DestinationKey: PerDestination] = [:]
    /// Every destination the service had or was seen using, first seen first.
    var destinationOrder: [DestinationKey] = []

    init(destinations: [DestinationKey]) {
        for d in destinations { note(d) }
    }

    mutating func note(_ d: DestinationKey) {
        if perDestination[d] == nil {
            perDestination[d] = PerDestination()
            destinationOrder.append(d)
        }
    }

    /// Each schedulable destination's share of one connection by weight: what a weight-proportional scheduler
    /// would give it, summed over the connections (hash schedulers and persistence only approach it on average).
    mutating func addWeightShares(_ list: DestinationList) {
        var total = 0.0
        for d in list where d.isSchedulable { total += Double(d.weight) }
        guard total > 0 else { return }
        for d in list where d.isSchedulable {
            note(d.key)
            perDestination[d.key]!.expectedByWeight += Double(d.weight) / total
        }
    }

    mutating func count(_ verdict: Verdict, predicted: DestinationKey?, observed: DestinationKey?) {
        connections += 1
        switch verdict {
        case .match: matched += 1
        case .mismatch: mismatched += 1
        case .notForwarded: notForwarded += 1
        case .noService: break
        }
        if let predicted {
            note(predicted)
            perDestination[predicted]!.predicted += 1
        }
        if let observed {
            note(observed)
            perDestination[observed]!.observed += 1
        }
    }

    func row(_ d: DestinationKey, weight: Int32?, inTable: Bool) -> VerificationReport.DestinationRow {
        let p = perDestination[d] ?? PerDestination()
        return VerificationReport.DestinationRow(destination: d, weight: weight, inTable: inTable,
                                                 observed: p.observed, predicted: p.predicted,
                                                 expectedByWeight: p.expectedByWeight)
    }
}

extension CaptureTime {
    func adding(seconds: UInt32) -> CaptureTime {
        let (v, o) = nanoseconds.addingReportingOverflow(UInt64(seconds) * 1_000_000_000)
        return CaptureTime(nanoseconds: o ? .max : v)
    }
}
