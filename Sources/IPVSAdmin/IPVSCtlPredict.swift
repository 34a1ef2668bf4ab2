import IPVSCore
import IPVSNetlink

/// The sysctls (net.ipv4.vs.*) that change what happens to a client that already has a connection or template.
public struct IPVSPredictionSysctls: Hashable, Sendable {
    /// `conn_reuse_mode` (default 1): bit 0 lets a new TCP SYN on a TIME_WAIT or CLOSE connection (SCTP: CLOSED)
    /// that no template controls be scheduled afresh; bit 1 adds FIN_WAIT entries marked NOOUTPUT, a flag
    /// /proc/net/ip_vs_conn does not show.
    public var connectionReuseMode: Int = 1
    /// `expire_nodest_conn` (default 0): a new connection attempt on an entry whose destination has weight 0 is
    /// scheduled afresh.
    public var expireNoDestinationConnection: Bool = false
    /// `expire_quiescent_template` (default 0): a template whose destination has weight 0 no longer holds.
    public var expireQuiescentTemplate: Bool = false

    public init(connectionReuseMode: Int = 1, expireNoDestinationConnection: Bool = false,
                expireQuiescentTemplate: Bool = false) {
        self.connectionReuseMode = connectionReuseMode
        self.expireNoDestinationConnection = expireNoDestinationConnection
        self.expireQuiescentTemplate = expireQuiescentTemplate
    }
}

/// What `ipvsctl predict` is asked: a service as the kernel reports it, its destinations in the kernel's list order
/// (head first, as the netlink dump gives them), the kernel's connection table, and the client's first packet.
public struct IPVSPredictionQuery: Sendable {
    public var service: VirtualService
    public var destinations: [IPVSDestinationEntry]
    public var connections: [IPVSConnectionEntry]
    public var client: IPAddress
    /// nil when not given: then no connection can be matched, and schedulers that hash the port cannot be predicted.
    public var clientPort: UInt16?
    /// The packet's destination address, port and protocol; for an address service its own (given ones are ignored).
    public var packetAddress: IPAddress?
    public var packetPort: UInt16?
    public var ipProtocol: IPProtocol?
    public var sysctls: IPVSPredictionSysctls

    public init(service: VirtualService, destinations: [IPVSDestinationEntry], connections: [IPVSConnectionEntry],
                client: IPAddress, clientPort: UInt16?, packetAddress: IPAddress? = nil, packetPort: UInt16? = nil,
                ipProtocol: IPProtocol? = nil, sysctls: IPVSPredictionSysctls = IPVSPredictionSysctls()) {
        self.service = service
        self.destinations = destinations
        self.connections = connections
        self.client = client
        self.clientPort = clientPort
        self.packetAddress = packetAddress
        self.packetPort = packetPort
        self.ipProtocol = ipProtocol
        self.sysctls = sysctls
    }

    /// The packet the prediction is about (client port 0 when not given).
    public var flow: Flow {
        switch service.key {
        case .address(let p, let a, let port):
            return Flow(p, from: client, port: clientPort ?? 0, to: a, port: port)
        case .firewallMark(_, let family):
            let unspecified: IPAddress = family == .inet ? .v4(IPv4Address(0)) : .v6(IPv6Address(high: 0, low: 0))
            return Flow(ipProtocol ?? .tcp, from: client, port: clientPort ?? 0, to: packetAddress ?? unspecified,
                        port: packetPort ?? 0)
        }
    }
}

/// The answer: which destination the kernel picks for the client's next new connection, what decided it, and, when
/// the live table cannot tell, why not and which destinations remain possible.
public struct IPVSPrediction: Hashable, Sendable {
    public enum Verdict: Hashable, Sendable {
        /// The kernel picks this destination.
        case destination(DestinationKey)
        /// The kernel schedules no destination (the packet is dropped, or for TCP reset/ICMP'd as ip_vs_leave does).
        case none
        /// The visible state does not determine it.
        case unknown
    }

    /// What decided (or would decide) the answer.
    public enum Basis: String, Hashable, Sendable {
        case connection = "existing connection"
        case template = "persistence template"
        case scheduler = "scheduler"
        case notScheduled = "not scheduled"
    }

    public var verdict: Verdict
    public var basis: Basis
    /// Destinations that remain possible: the answer itself when known, otherwise every one the hidden state
    /// could lead to (kernel list order).
    public var candidates: [DestinationKey]
    /// Why, in sentences: the entries found, the rules applied, what is hidden.
    public var reasons: [String]

    /// `ipvsctl predict` exit statuses.
    public var exitStatus: Int32 {
        switch verdict {
        case .destination: return 0
        case .unknown: return IPVSPredictor.exitUnknown
        case .none: return IPVSPredictor.exitNoDestination
        }
    }
}

/// `ipvsctl predict`: the kernel's choice for a client, from what the live table shows (the service, its
/// destinations with weights, thresholds and counters, /proc/net/ip_vs_conn) and IPVSCore's schedulers, in the order
/// ip_vs_core.c `ip_vs_in_hook` works: an existing connection first (`ip_vs_conn_in_get`, with the reuse rules of
/// `is_new_conn_expected`), then a persistence template (`ip_vs_sched_persist`, `ip_vs_check_template`), then the
/// scheduler (`ip_vs_schedule`).
///
/// What netlink does not show, and how it is handled:
/// - the overload flag (`IP_VS_DEST_F_OVERLOAD`): known when there is no upper threshold (clear), when the total
///   reached it (set) or is below `l_threshold_val` (clear); between the two it depends on history
///   (ip_vs_ctl.c `__ip_vs_dest_update_overload`), and every possibility is tried;
/// - rr's cursor, wrr's current weight and position, the lblc/lblcr caches: every destination the scheduler could
///   pick is a candidate; the answer is known only when one remains;
/// - mh builds its table from `last_weight`, which for a destination of weight 0 is hidden.
public enum IPVSPredictor {
    /// Exit status when the visible state does not determine the destination.
    public static let exitUnknown: Int32 = 3
    /// Exit status when the kernel would schedule no destination.
    public static let exitNoDestination: Int32 = 4
    /// More undetermined overload flags than this are not enumerated (2^n predictions).
    static let maximumUnknownOverloads = 10

    public static func predict(_ q: IPVSPredictionQuery) -> IPVSPrediction {
        var reasons: [String] = []
        let flow = q.flow
        let service = q.service
        let inList = Dictionary(q.destinations.map { ($0.server.key, $0) }, uniquingKeysWith: { a, _ in a })

        // 1. An existing connection for the same tuple (ip_vs_conn_in_get).
        if let port = q.clientPort, let c = q.connections.first(where: { e in
            !e.isTemplate && e.ipProtocol == flow.ipProtocol && e.client == q.client && e.clientPort == port
                && e.virtualAddress == flow.destinationAddress && e.virtualPort == flow.destinationPort
        }) {
            let dest = DestinationKey(address: c.destination, port: c.destinationPort)
            let text = "connection \(c.protocolName) \(show(c.client, c.clientPort)) -> "
                + "\(show(c.virtualAddress, c.virtualPort)) -> \(dest) \(c.state), expires in \(c.expiresInSeconds) s"
            switch reuse(c, service: service, destination: inList[dest], sysctls: q.sysctls) {
            case .keeps:
                reasons.append("\(text): a new packet of this tuple joins it")
                return IPVSPrediction(verdict: .destination(dest), basis: .connection, candidates: [dest],
                                      reasons: reasons)
            case .rescheduled(let why):
                reasons.append("\(text): \(why); a new connection is scheduled (the old one still counts)")
            case .unknown(let why):
                reasons.append("\(text): \(why)")
                var r = schedulerPrediction(q, flow: flow, template: nil, reasons: reasons)
                if !r.candidates.contains(dest) { r.candidates.insert(dest, at: 0) }
                r.verdict = .unknown
                return r
            }
        } else if q.clientPort == nil {
            reasons.append("no client port given: existing connections of the client are not looked at")
        }

        // 2. Source port 20 is never scheduled (ip_vs_schedule: "Not scheduling FTPDATA").
        if q.clientPort == VirtualServer.ftpDataPort {
            reasons.append("source port 20 (FTPDATA) is never scheduled")
            return IPVSPrediction(verdict: .none, basis: .notScheduled, candidates: [], reasons: reasons)
        }

        // 3. A persistence template (ip_vs_sched_persist → ip_vs_ct_in_get, ip_vs_check_template).
        var templateDestination: DestinationKey? = nil
        if service.isPersistent, let pe = service.persistenceEngine {
            // ip_vs_pe_sip.c: templates are matched by the SIP Call-ID in the packet's payload.
            reasons.append("the \(pe) persistence engine matches templates by data in the packet (the SIP Call-ID), "
                           + "which a client address does not give")
            let available = q.destinations.filter { $0.server.weight > 0 }.map(\.server.key)
            return IPVSPrediction(verdict: available.isEmpty ? .none : .unknown, basis: .template,
                                  candidates: available, reasons: reasons)
        }
        if service.isPersistent {
            let key = PersistenceTemplateKey(service: service, flow: flow)
            if let t = q.connections.first(where: { matches($0, key) }) {
                let dest = DestinationKey(address: t.destination, port: t.destinationPort)
                let text = "template \(key) -> \(dest) \(t.state), expires in \(t.expiresInSeconds) s"
                if let d = inList[dest] {
                    if q.sysctls.expireQuiescentTemplate && d.server.weight == 0 {
                        reasons.append("\(text): its destination has weight 0 and expire_quiescent_template is set, "
                                       + "so it is invalidated")
                        templateDestination = dest  // handed to the model, which invalidates it the same way
                    } else {
                        reasons.append("\(text): it holds")
                        return IPVSPrediction(verdict: .destination(dest), basis: .template, candidates: [dest],
                                              reasons: reasons)
                    }
                } else {
                    reasons.append("\(text): its destination is no longer in the service, so it is invalidated")
                }
            } else {
                reasons.append("no template \(key): the scheduler chooses and a template is created")
            }
        }
        return schedulerPrediction(q, flow: flow, template: templateDestination, reasons: reasons)
    }

    enum Reuse {
        case keeps
        case rescheduled(String)
        case unknown(String)
    }

    /// ip_vs_core.c `ip_vs_in_hook` with `conn_reuse_mode` and `is_new_conn_expected`, for a new TCP SYN or SCTP
    /// INIT on an existing entry (UDP and other packets always join it).
    static func reuse(_ c: IPVSConnectionEntry, service: VirtualService, destination: IPVSDestinationEntry?,
                      sysctls: IPVSPredictionSysctls) -> Reuse {
        guard sysctls.connectionReuseMode != 0, c.ipProtocol == .tcp || c.ipProtocol == .sctp else { return .keeps }
        if sysctls.expireNoDestinationConnection, let d = destination, d.server.weight == 0 {
            return .rescheduled("its destination has weight 0 and expire_nodest_conn is set")
        }
        // A template controls every connection of a persistent service (cp->control): never expected to be new.
        if service.isPersistent { return .keeps }
        if c.ipProtocol == .tcp && (c.state == "TIME_WAIT" || c.state == "CLOSE") {
            return .rescheduled("a SYN on a \(c.state) connection is a new connection (conn_reuse_mode)")
        }
        if c.ipProtocol == .sctp && c.state == "CLOSED" {
            return .rescheduled("an INIT on a CLOSED association is a new one (conn_reuse_mode)")
        }
        if c.ipProtocol == .tcp && c.state == "FIN_WAIT" && sysctls.connectionReuseMode & 2 != 0 {
            return .unknown("conn_reuse_mode 2 reschedules a FIN_WAIT connection only when it is marked NOOUTPUT, "
                            + "which the table does not show")
        }
        return .keeps
    }

    /// Whether a /proc/net/ip_vs_conn entry is the template `key` (not an invalidated one: those have port 0xffff).
    static func matches(_ e: IPVSConnectionEntry, _ key: PersistenceTemplateKey) -> Bool {
        guard e.isTemplate, e.clientPort == key.clientPort, e.virtualPort == key.virtualPort,
            e.protocolName == (key.ipProtocol?.description ?? "IP"), e.client == key.clientNetwork
        else { return false }
        switch key.virtual {
        case .address(let a): return e.virtualAddress == a
        case .firewallMark(let m):
            // The kernel stores htonl(fwmark) in the first word of the address.
            if key.family == .inet { return e.virtualAddress == .v4(IPv4Address(m)) }
            return e.virtualAddress == .v6(IPv6Address(high: UInt64(m) << 32, low: 0))
        }
    }

    /// The scheduler's choice over every overload flag the table leaves open.
    static func schedulerPrediction(_ q: IPVSPredictionQuery, flow: Flow, template: DestinationKey?,
                                    reasons: [String]) -> IPVSPrediction {
        var reasons = reasons
        let kind = q.service.scheduler
        let keys = q.destinations.map(\.server.key)
        let hidden: String?
        switch kind {
        case .rr: hidden = "rr's position in the list is kernel-internal state netlink does not expose"
        case .wrr: hidden = "wrr's current weight and position are kernel-internal state netlink does not expose"
        case .lblc: hidden = "lblc's destination cache is kernel-internal state netlink does not expose"
        case .lblcr: hidden = "lblcr's destination sets are kernel-internal state netlink does not expose"
        default: hidden = nil
        }
        var hiddenParts: [String] = []
        if let hidden { hiddenParts.append(hidden) }
        if q.clientPort == nil && q.service.flags.contains(.schedulerFlag2) && (kind == .sh || kind == .mh) {
            hiddenParts.append("\(kind) hashes the client port (\(kind)-port) and none was given")
        }
        if kind == .mh && q.destinations.contains(where: { $0.server.weight == 0 }) {
            hiddenParts.append("mh builds its table from each destination's last non-zero weight, hidden for a "
                               + "destination of weight 0")
        }

        // The overload flag: known, or open (between l_threshold_val and the upper threshold).
        var known: [Bool?] = []
        for d in q.destinations {
            let u = d.server.upperThreshold
            let total = UInt64(d.activeConnections) + UInt64(d.inactiveConnections)
            if u == 0 {
                known.append(false)
                continue
            }
            let l = d.server.lowerThreshold != 0 ? d.server.lowerThreshold : u - (u >> 2)
            if total >= UInt64(u) {
                known.append(true)
            } else if total < UInt64(l) {
                known.append(false)
            } else {
                known.append(nil)
                reasons.append("\(d.server.key): \(total) connections, between the lower (\(l)) and upper (\(u)) "
                               + "thresholds: its overload flag depends on history")
            }
        }
        let open = known.indices.filter { known[$0] == nil }
        if open.count > maximumUnknownOverloads {
            hiddenParts.append("\(open.count) destinations have an undetermined overload flag")
        }

        var outcomes = Set<DestinationKey?>()
        var candidates = Set<DestinationKey>()
        let combinations = open.count > maximumUnknownOverloads ? 1 : 1 << open.count
        for combination in 0..<combinations {
            var states: [DestinationState] = []
            for (i, d) in q.destinations.enumerated() {
                var overloaded = known[i] ?? false
                if let bit = open.firstIndex(of: i) { overloaded = combination & (1 << bit) != 0 }
                states.append(DestinationState(
                    d.server, activeConnections: Int32(clamping: d.activeConnections),
                    inactiveConnections: Int32(clamping: d.inactiveConnections),
                    persistentConnections: Int32(clamping: d.persistentConnections), overloaded: overloaded))
            }
            let settings = PersistenceSettings(expireQuiescentTemplate: q.sysctls.expireQuiescentTemplate)
            let pick: DestinationKey?
            do {
                pick = try VirtualServer.predict(
                    service: q.service, destinations: states, client: q.client, clientPort: flow.sourcePort,
                    virtualAddress: flow.destinationAddress, virtualPort: flow.destinationPort,
                    ipProtocol: flow.ipProtocol, existingTemplate: template, settings: settings)
            } catch {
                reasons.append("the table cannot be modelled: \(error)")
                return IPVSPrediction(verdict: .unknown, basis: .scheduler, candidates: keys, reasons: reasons)
            }
            outcomes.insert(pick)
            if let pick { candidates.insert(pick) }
            if !hiddenParts.isEmpty {
                // Every destination the hidden state could make the scheduler return.
                for s in states where s.weight > 0 {
                    switch kind {
                    case .lblc, .lblcr, .mh: candidates.insert(s.key)
                    default: if !s.overloaded { candidates.insert(s.key) }
                    }
                }
            }
        }
        let ordered = keys.filter { candidates.contains($0) }
        reasons.append(describe(q, kind: kind))
        if hiddenParts.isEmpty && outcomes.count == 1, let only = outcomes.first {
            guard let pick = only else {
                reasons.append("no destination is available (all have weight 0 or are overloaded)")
                return IPVSPrediction(verdict: .none, basis: .scheduler, candidates: [], reasons: reasons)
            }
            return IPVSPrediction(verdict: .destination(pick), basis: .scheduler, candidates: [pick],
                                  reasons: reasons)
        }
        if hiddenParts.isEmpty {
            reasons.append("the choice depends on the overload flags left open above"
                           + (outcomes.contains(nil) ? " (one case schedules no destination)" : ""))
        } else {
            reasons.append(contentsOf: hiddenParts)
        }
        if ordered.isEmpty {
            reasons.append("no destination is available (all have weight 0 or are overloaded)")
            return IPVSPrediction(verdict: .none, basis: .scheduler, candidates: [], reasons: reasons)
        }
        if ordered.count == 1 && !outcomes.contains(nil) {
            reasons.append("only one destination can be chosen, whatever the hidden state")
            return IPVSPrediction(verdict: .destination(ordered[0]), basis: .scheduler, candidates: ordered,
                                  reasons: reasons)
        }
        return IPVSPrediction(verdict: .unknown, basis: .scheduler, candidates: ordered, reasons: reasons)
    }

    /// What the scheduler looks at, in one sentence.
    static func describe(_ q: IPVSPredictionQuery, kind: SchedulerKind) -> String {
        switch kind {
        case .lc, .wlc, .lblc, .lblcr:
            return "\(kind): the least ((active << 8) + active + inactive)\(kind == .lc ? "" : " / weight") "
                + "among destinations of weight > 0 not overloaded, the first in list order on a tie"
        case .sed: return "sed: the least (active + 1) / weight, the first in list order on a tie"
        case .nq: return "nq: the first idle destination (no active connection), else as sed"
        case .fo: return "fo: the destination of highest weight not overloaded, the first in list order on a tie"
        case .ovf: return "ovf: the first destination of highest weight whose active connections are below its weight"
        case .sh, .dh, .mh:
            let what = kind == .dh ? "the packet's destination address"
                : q.service.flags.contains(.schedulerFlag2) ? "the client address and port" : "the client address"
            return "\(kind): a table built from the destination list, indexed by a hash of \(what)"
                + (q.service.flags.contains(.schedulerFlag1) && kind != .dh ? ", with fallback" : "")
        case .rr, .wrr: return "\(kind): the next destination of weight > 0 not overloaded after the hidden position"
        }
    }

    static func show(_ a: IPAddress, _ port: UInt16) -> String {
        if case .v6 = a { return "[\(a)]:\(port)" }
        return "\(a):\(port)"
    }
}
