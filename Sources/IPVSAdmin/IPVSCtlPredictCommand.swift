import IPVSCore
import IPVSNetlink

/// `ipvsctl predict`'s command line: the service as ipvsadm names one (`-t|-u|--sctp-service VIP:PORT`, `-f MARK`
/// with `-6` for an IPv6 mark), `--client IP[:PORT]` (`[v6]:port` for IPv6), and for a firewall-mark service the
/// packet's `--to IP[:PORT]` and `--protocol tcp|udp|sctp`. `--json` prints the answer as JSON.
public struct IPVSCtlPredictCommand: Hashable, Sendable {
    public struct Client: Hashable, Sendable {
        public var address: IPAddress
        public var port: UInt16?

        public init(address: IPAddress, port: UInt16?) {
            self.address = address
            self.port = port
        }
    }

    public var service: ServiceKey
    /// Each `--client` given, in order (at least one): every one is predicted from the same reading of the table.
    public var clients: [Client]
    public var packetAddress: IPAddress?
    public var packetPort: UInt16?
    public var ipProtocol: IPProtocol?
    public var json: Bool

    public static let usage = """
        Usage:
          ipvsctl predict -t|-u|--sctp-service service-address --client client-address[:port] ... [--json]
          ipvsctl predict -f fwmark [-6] --to address[:port] [--protocol tcp|udp|sctp]
                          --client client-address[:port] ... [--json]

        Which real server the kernel chooses now for a new connection from the client, from the live table
        (destinations in list order with weights, thresholds and counters; /proc/net/ip_vs_conn).
        --client may be repeated: each client is predicted from the same reading of the table (text blocks
        separated by an empty line; with --json one object a line).
        Exit status: 0 predicted, 3 the visible state does not determine it (candidates printed),
        4 the kernel schedules no real server (3 and 4: for any client), 1 the table could not be read,
        2 usage error.

        """

    /// Parses the words after `predict`; a usage error is ipvsadm's `fail(2, …)` form.
    public static func parse(_ words: [String]) throws(IPVSAdmExit) -> IPVSCtlPredictCommand {
        var ipProtocol: IPProtocol? = nil
        var serviceText: String? = nil
        var mark: UInt32? = nil
        var inet6 = false
        var clientTexts: [String] = []
        var toText: String? = nil
        var protocolText: String? = nil
        var json = false
        var i = 0
        func value(_ option: String) throws(IPVSAdmExit) -> String {
            i += 1
            guard i < words.count else { throw .fail("option \(option) requires an argument") }
            return words[i]
        }
        func setService(_ p: IPProtocol?, _ option: String) throws(IPVSAdmExit) {
            guard serviceText == nil && mark == nil else { throw .fail("more than one service given") }
            let text = try value(option)
            if let p {
                ipProtocol = p
                serviceText = text
            } else {
                guard let m = IPVSAdmTextParsing.firewallMark(text), m != 0 else {
                    throw .fail("illegal virtual server address[:port] specified")
                }
                mark = m
            }
        }
        while i < words.count {
            let w = words[i]
            switch w {
            case "-t", "--tcp-service": try setService(.tcp, w)
            case "-u", "--udp-service": try setService(.udp, w)
            case "--sctp-service": try setService(.sctp, w)
            case "-f", "--fwmark-service": try setService(nil, w)
            case "-6", "--ipv6": inet6 = true
            case "--client": clientTexts.append(try value(w))
            case "--to": toText = try value(w)
            case "--protocol": protocolText = try value(w)
            case "--json": json = true
            case "-h", "--help": throw IPVSAdmExit(status: 0, standardOutput: usage)
            default: throw .fail("unknown option \(w) for predict (see ipvsctl predict --help)")
            }
            i += 1
        }
        let service: ServiceKey
        var packetProtocol: IPProtocol? = nil
        if let serviceText, let p = ipProtocol {
            guard let ap = IPVSAdmTextParsing.addressPort(serviceText, ipProtocol: p.rawValue), let port = ap.port
            else { throw .fail("illegal virtual server address[:port] specified") }
            service = .address(p, ap.address, port: port)
            if toText != nil || protocolText != nil {
                throw .fail("--to and --protocol are only for a firewall-mark service (-f)")
            }
        } else if let mark {
            service = .firewallMark(mark, inet6 ? .inet6 : .inet)
            if let protocolText {
                switch protocolText.lowercased() {
                case "tcp": packetProtocol = .tcp
                case "udp": packetProtocol = .udp
                case "sctp": packetProtocol = .sctp
                default: throw .fail("--protocol must be tcp, udp or sctp, not \(protocolText)")
                }
            }
        } else {
            throw .fail("a service is needed: -t, -u, --sctp-service or -f (see ipvsctl predict --help)")
        }
        guard !clientTexts.isEmpty else { throw .fail("--client address[:port] is needed") }
        var clients: [Client] = []
        for text in clientTexts {
            guard let c = IPVSAdmTextParsing.addressPort(text, ipProtocol: (ipProtocol ?? .tcp).rawValue) else {
                throw .fail("illegal client address[:port] specified: \(text)")
            }
            guard c.address.family == service.family else {
                throw .fail("the client's address family differs from the service's: \(text)")
            }
            clients.append(Client(address: c.address, port: c.port))
        }
        var packetAddress: IPAddress? = nil
        var packetPort: UInt16? = nil
        if case .firewallMark = service {
            guard let toText else {
                throw .fail("a firewall-mark service needs the packet's destination: --to address[:port]")
            }
            guard let to = IPVSAdmTextParsing.addressPort(toText, ipProtocol: (packetProtocol ?? .tcp).rawValue),
                to.address.family == service.family
            else { throw .fail("illegal --to address[:port] specified: \(toText)") }
            packetAddress = to.address
            packetPort = to.port ?? 0
        }
        return IPVSCtlPredictCommand(
            service: service, clients: clients, packetAddress: packetAddress,
            packetPort: packetPort, ipProtocol: packetProtocol, json: json)
    }

    /// The answer as text: the service, the client, the answer, then the reasons and the destinations seen.
    public static func text(_ p: IPVSPrediction, _ q: IPVSPredictionQuery) -> String {
        var out = "service:     \(describe(q.service))\n"
        let flow = q.flow
        out += "client:      \(q.clientPort.map { IPVSPredictor.show(q.client, $0) } ?? q.client.description)"
        if case .firewallMark = q.service.key {
            out += " -> \(flow.ipProtocol) \(IPVSPredictor.show(flow.destinationAddress, flow.destinationPort))"
        }
        out += "\n"
        switch p.verdict {
        case .destination(let d): out += "destination: \(d)\n"
        case .none: out += "destination: none (the kernel schedules no real server)\n"
        case .unknown:
            out += "destination: cannot be known from the live table\n"
            out += "candidates:  \(p.candidates.map(\.description).joined(separator: " "))\n"
        }
        out += "decided by:  \(p.basis.rawValue)\n"
        for r in p.reasons { out += "  - \(r)\n" }
        out += "real servers (kernel list order):\n"
        for d in q.destinations {
            out += "  \(d.server.key) weight \(d.server.weight) active \(d.activeConnections) inactive "
                + "\(d.inactiveConnections) persistent \(d.persistentConnections)"
            if d.server.upperThreshold != 0 || d.server.lowerThreshold != 0 {
                out += " thresholds \(d.server.lowerThreshold)-\(d.server.upperThreshold)"
            }
            out += "\n"
        }
        return out
    }

    /// The answer as one JSON object:
    /// `{"service": …, "client": "ip", "clientPort": n|null, "verdict": "destination"|"none"|"unknown",
    ///   "destination": "ip:port"|null, "decidedBy": …, "candidates": [...], "reasons": [...]}`.
    public static func json(_ p: IPVSPrediction, _ q: IPVSPredictionQuery) -> String {
        var fields: [(String, String)] = []
        fields.append(("service", quote(describe(q.service))))
        fields.append(("client", quote(q.client.description)))
        fields.append(("clientPort", q.clientPort.map { "\($0)" } ?? "null"))
        let verdict: String
        var destination = "null"
        switch p.verdict {
        case .destination(let d):
            verdict = "destination"
            destination = quote(d.description)
        case .none: verdict = "none"
        case .unknown: verdict = "unknown"
        }
        fields.append(("verdict", quote(verdict)))
        fields.append(("destination", destination))
        fields.append(("decidedBy", quote(p.basis.rawValue)))
        fields.append(("candidates", "[" + p.candidates.map { quote($0.description) }.joined(separator: ",") + "]"))
        fields.append(("reasons", "[" + p.reasons.map(quote).joined(separator: ",") + "]"))
        return "{" + fields.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}\n"
    }

    static func describe(_ s: VirtualService) -> String {
        var out: String
        switch s.key {
        case .address(let p, let a, let port): out = "\(p) \(IPVSPredictor.show(a, port))"
        case .firewallMark(let m, let f): out = "FWM \(m)" + (f == .inet6 ? " IPv6" : "")
        }
        out += " \(s.scheduler)"
        if !s.flags.intersection(ServiceFlags.schedulerFlags).isEmpty {
            out += " (" + IPVSAdmListing.schedulerFlagNames(s.scheduler.rawValue, s.flags) + ")"
        }
        if s.isPersistent {
            out += " persistent \(s.persistenceTimeout)"
            if s.key.family == .inet && s.netmask != UInt32.max { out += " mask \(IPv4Address(s.netmask))" }
            if s.key.family == .inet6 && s.netmask != 128 { out += " mask \(s.netmask)" }
        }
        if s.flags.contains(.onePacket) { out += " ops" }
        return out
    }

    static func quote(_ s: String) -> String { IPVSJSONWriter.quoted(s) }
}
