import Glibc
import IPVSCore
import IPVSNetlink

/// The IPVS configuration `ipvsctl -R --dry-run` simulates: services with their destinations in the kernel's list
/// order (head first), the connection timeouts and the sync daemons.
public struct IPVSSimulatedTable: Hashable, Sendable {
    public struct Service: Hashable, Sendable {
        public var service: VirtualService
        /// Head first, as the kernel links them (ip_vs_ctl.c `__ip_vs_update_dest`: `list_add_rcu` at the head).
        public var destinations: [RealServer]

        public init(_ service: VirtualService, destinations: [RealServer] = []) {
            self.service = service
            self.destinations = destinations
        }
    }

    /// In the order they were read or added (the kernel's dump order is its hash order; compare by key).
    public var services: [Service]
    public var timeouts: IPVSTimeouts
    public var daemons: [IPVSSyncDaemon]

    public init(services: [Service] = [], timeouts: IPVSTimeouts = IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300),
                daemons: [IPVSSyncDaemon] = []) {
        self.services = services
        self.timeouts = timeouts
        self.daemons = daemons
    }

    /// The services keyed by service key, destinations in list order: what two tables are compared by.
    public var byKey: [ServiceKey: Service] {
        Dictionary(services.map { ($0.service.key, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// One change a restore line makes, as the simulation saw it.
public enum IPVSSimulatedChange: Hashable, Sendable {
    case addService(VirtualService)
    case editService(from: VirtualService, to: VirtualService)
    case deleteService(IPVSSimulatedTable.Service)
    case addDestination(ServiceKey, RealServer)
    case editDestination(ServiceKey, from: RealServer, to: RealServer)
    case deleteDestination(ServiceKey, RealServer)
    case flush(services: Int, destinations: Int)
    case setTimeouts(from: IPVSTimeouts, to: IPVSTimeouts)
    case zero(ServiceKey?)
    case startDaemon(IPVSSyncDaemon)
    case stopDaemon(IPVSSyncDaemon.Role)
    /// A line that changes no configuration (a listing, a save).
    case nothing(String)
}

/// What `ipvsctl -R --dry-run` found: per line, the change or the failure; the table after; and what a real
/// `ipvsctl -R` (ipvsadm -R) would have printed and returned.
public struct IPVSAdmRestoreSimulation: Sendable {
    public struct Step: Hashable, Sendable {
        /// The input line, from 1 (counting the empty lines the reader skips).
        public var line: Int
        public var words: [String]
        public var change: IPVSSimulatedChange?
        /// What -R prints on stderr for this line (a refused command line or ipvsadm's message for the kernel's
        /// refusal), empty when it succeeds.
        public var standardError: String
        /// ipvsadm's status for this line: 0, 2 or 255 (its -1).
        public var status: Int32
    }

    public var steps: [Step] = []
    public var table: IPVSSimulatedTable
    /// What -R itself would print on stdout (help or version text asked for on a line).
    public var standardOutput = ""
    public var standardError = ""
    /// -R's exit status: the last line's, or the status of a line that ends the process.
    public var status: Int32 = 0
    /// A line ended the process (ipvsadm's `fail`/`exit`): the lines after it are not read.
    public var endedAt: Int? = nil

    /// Applies `input` line by line to `table`, as `Session.restore` would apply it to the kernel.
    /// `interfaceExists` says whether a sync daemon's interface exists (the kernel refuses others with ENODEV);
    /// `acceptsDestination` whether the kernel takes an address as a new real server (`isUnicast` by default; the
    /// kernel also asks its routing tables, see `isUnicast`).
    public static func simulate(
        _ input: String, program: String, table: IPVSSimulatedTable, posixlyCorrect: Bool = false,
        interfaceExists: (String) -> Bool = { _ in true },
        acceptsDestination: (IPAddress) -> Bool = isUnicast
    ) -> IPVSAdmRestoreSimulation {
        var result = IPVSAdmRestoreSimulation(table: table)
        var working = WorkingTable(table)
        var reader = IPVSAdmRestoreReader(input)
        // The reader takes one line, up to and including its newline, per call: their count is the line number.
        var lineNumber = 0
        while true {
            let words: [String]
            var invocation: IPVSAdmInvocation? = nil
            if let line = reader.nextTerminatedLine() {
                // A line `-S -n` writes is read from its bytes, as -R reads it (the very invocation the full
                // parser gives; nil for anything else).
                invocation = reader.bytes.withUnsafeBufferPointer {
                    IPVSAdmRestoreFastPath.parse(UnsafeBufferPointer(rebasing: $0[line]))
                }
                words = IPVSAdmRestoreReader.words(reader.bytes[line])
            } else if let last = reader.nextLine() {
                words = last
            } else {
                break
            }
            lineNumber += 1
            if words.isEmpty { continue }
            if invocation == nil {
                do throws(IPVSAdmExit) {
                    invocation = try IPVSAdmParser.parse(
                        [program] + words, readingRestore: true, posixlyCorrect: posixlyCorrect)
                } catch {
                    result.standardOutput += error.standardOutput
                    result.standardError += error.standardError
                    result.steps.append(Step(line: lineNumber, words: words, change: nil,
                                             standardError: error.standardError, status: error.status))
                    result.status = error.status
                    if error.endsProcess {
                        result.endedAt = lineNumber
                        result.table = working.table
                        return result
                    }
                    continue
                }
            }
            let step = apply(invocation!, to: &working, interfaceExists: interfaceExists,
                             acceptsDestination: acceptsDestination)
            let message: String
            switch step {
            case .success(let change):
                message = ""
                result.steps.append(Step(line: lineNumber, words: words, change: change, standardError: "",
                                         status: 0))
                result.status = 0
            case .failure(let function, let errno):
                message = IPVSAdmErrorText.message(function, errno: errno) + "\n"
                result.steps.append(Step(line: lineNumber, words: words, change: nil, standardError: message,
                                         status: 255))
                result.status = 255
            }
            result.standardError += message
        }
        result.table = working.table
        return result
    }

    /// The table while the lines are applied: each service in a slot of its own, found by its key through a
    /// dictionary (looking each line's service up in a list made a dry run of 10 000 services quadratic: 38 s in
    /// the kernel VM). A deleted service leaves its slot empty, so that the others keep theirs; the slots are
    /// compacted once half of them are empty.
    struct WorkingTable {
        private var slots: [IPVSSimulatedTable.Service?]
        private var positions: [ServiceKey: Int] = [:]
        /// Slots not empty.
        private var live = 0
        /// The table given held a key twice (a dump taken while another process changed the table can): a removal
        /// then indexes the slots again, so that the other service with that key is found.
        private var repeated = false
        var timeouts: IPVSTimeouts
        var daemons: [IPVSSyncDaemon]

        init(_ table: IPVSSimulatedTable) {
            slots = table.services
            timeouts = table.timeouts
            daemons = table.daemons
            reindex()
        }

        /// The table, services in the order they were read or added.
        var table: IPVSSimulatedTable { IPVSSimulatedTable(services: services, timeouts: timeouts, daemons: daemons) }

        /// The services held, in order.
        var services: [IPVSSimulatedTable.Service] { slots.compactMap { $0 } }

        /// The slot of the service with this key (the first one, should the table given hold a key twice).
        func slot(of key: ServiceKey) -> Int? { positions[key] }

        subscript(slot: Int) -> IPVSSimulatedTable.Service {
            get { slots[slot]! }
            _modify { yield &slots[slot]! }
        }

        mutating func append(_ service: IPVSSimulatedTable.Service) {
            positions[service.service.key] = slots.count
            slots.append(service)
            live += 1
        }

        mutating func remove(slot: Int) -> IPVSSimulatedTable.Service {
            let removed = slots[slot]!
            slots[slot] = nil
            positions[removed.service.key] = nil
            live -= 1
            if slots.count >= 64 && live < slots.count / 2 {
                slots.removeAll { $0 == nil }
                reindex()
            } else if repeated {
                reindex()
            }
            return removed
        }

        mutating func removeAll() {
            slots.removeAll()
            positions.removeAll()
            live = 0
            repeated = false
        }

        private mutating func reindex() {
            positions.removeAll(keepingCapacity: true)
            live = 0
            repeated = false
            for (i, service) in slots.enumerated() {
                guard let key = service?.service.key else { continue }
                live += 1
                if positions[key] == nil { positions[key] = i } else { repeated = true }
            }
        }
    }

    enum Outcome {
        case success(IPVSSimulatedChange)
        case failure(IPVSAdmErrorText.Function, Int32)
    }

    /// One command against the simulated table, with the errno the kernel would return, checked in the order
    /// ip_vs_ctl.c checks (`ip_vs_genl_set_cmd`: the service lookup first, then the command's own checks).
    static func apply(_ invocation: IPVSAdmInvocation, to table: inout WorkingTable,
                      interfaceExists: (String) -> Bool, acceptsDestination: (IPAddress) -> Bool) -> Outcome {
        let a = invocation.service
        switch invocation.command {
        case .list, .save: return .success(.nothing("a listing (not printed in a dry run)"))
        case .restore: return .success(.nothing("a restore (reads the rest of the input, which is used up)"))
        case .flush:
            let services = table.services
            let count = services.reduce(0) { $0 + $1.destinations.count }
            let n = services.count
            table.removeAll()
            return .success(.flush(services: n, destinations: count))
        case .addService, .editService:
            let edit = invocation.command == .editService
            let function: IPVSAdmErrorText.Function = edit ? .editService : .addService
            let service = a.virtualService
            let index = table.slot(of: service.key)
            if edit && index == nil { return .failure(function, ESRCH) }
            if !edit && index != nil { return .failure(function, EEXIST) }
            // ip_vs_add_service / ip_vs_edit_service: the scheduler, then the persistence engine.
            guard SchedulerKind(rawValue: a.schedulerName) != nil else { return .failure(function, ENOENT) }
            if !a.persistenceEngine.isEmpty
                && !VirtualService.knownPersistenceEngines.contains(a.persistenceEngine)
            {
                return .failure(function, ENOENT)
            }
            if service.key.family == .inet6 && (service.netmask < 1 || service.netmask > 128) {
                return .failure(function, EINVAL)
            }
            if let index {
                let old = table[index].service
                table[index].service = service
                return .success(.editService(from: old, to: service))
            }
            table.append(IPVSSimulatedTable.Service(service))
            return .success(.addService(service))
        case .deleteService:
            guard let index = table.slot(of: a.virtualService.key) else { return .failure(.deleteService, ESRCH) }
            return .success(.deleteService(table.remove(slot: index)))
        case .addServer, .editServer, .deleteServer:
            let function: IPVSAdmErrorText.Function =
                invocation.command == .addServer ? .addDestination
                : invocation.command == .editServer ? .editDestination : .deleteDestination
            let key = a.virtualService.key
            guard let index = table.slot(of: key) else { return .failure(function, ESRCH) }
            let server = invocation.server.realServer
            let position = table[index].destinations.firstIndex { $0.key == server.key }
            if invocation.command == .deleteServer {
                guard let position else { return .failure(function, ENOENT) }
                let removed = table[index].destinations.remove(at: position)
                return .success(.deleteDestination(key, removed))
            }
            // ip_vs_add_dest / ip_vs_edit_dest: weight, thresholds, then the lookup.
            if server.weight < 0 { return .failure(function, ERANGE) }
            if server.lowerThreshold > server.upperThreshold { return .failure(function, ERANGE) }
            if invocation.command == .editServer {
                guard let position else { return .failure(function, ENOENT) }
                let old = table[index].destinations[position]
                table[index].destinations[position] = server
                return .success(.editDestination(key, from: old, to: server))
            }
            if position != nil { return .failure(function, EEXIST) }
            // ip_vs_new_dest: the address must be unicast.
            if !acceptsDestination(server.address) { return .failure(function, EINVAL) }
            table[index].destinations.insert(server, at: 0)
            return .success(.addDestination(key, server))
        case .setTimeouts:
            let t = invocation.timeouts
            let old = table.timeouts
            // A zero leaves a timeout as it is (ip_vs_set_timeout).
            table.timeouts = IPVSTimeouts(tcp: t.tcp != 0 ? t.tcp : old.tcp, tcpFin: t.tcpFin != 0 ? t.tcpFin : old.tcpFin,
                                          udp: t.udp != 0 ? t.udp : old.udp)
            return .success(.setTimeouts(from: old, to: table.timeouts))
        case .zero:
            // libipvs `ipvs_zero_service`: one service only when one is named (mark, address or port not zero).
            let unspecified: Set<IPAddress> = [.v4(IPv4Address(0)), .v6(IPv6Address(high: 0, low: 0))]
            let named = a.firewallMark != 0 || a.port != 0 || (a.address.map { !unspecified.contains($0) } ?? false)
            if named {
                let key = a.virtualService.key
                guard table.slot(of: key) != nil else { return .failure(.zeroService, ESRCH) }
                return .success(.zero(key))
            }
            return .success(.zero(nil))
        case .startDaemon:
            let role: IPVSSyncDaemon.Role = invocation.daemon.state == .backup ? .backup : .master
            if table.daemons.contains(where: { $0.role == role }) { return .failure(.startDaemon, EEXIST) }
            if !interfaceExists(invocation.daemon.multicastInterface) { return .failure(.startDaemon, ENODEV) }
            let d = invocation.daemon
            let daemon = IPVSSyncDaemon(
                role, interface: d.multicastInterface, syncID: UInt8(truncatingIfNeeded: d.syncID),
                maximumMessageLength: d.syncMaxLength == 0 ? nil : d.syncMaxLength, multicastGroup: d.multicastGroup,
                multicastPort: d.multicastPort == 0 ? nil : d.multicastPort,
                multicastTTL: d.multicastTTL == 0 ? nil : d.multicastTTL)
            table.daemons.append(daemon)
            return .success(.startDaemon(daemon))
        case .stopDaemon:
            let role: IPVSSyncDaemon.Role = invocation.daemon.state == .backup ? .backup : .master
            guard let i = table.daemons.firstIndex(where: { $0.role == role }) else {
                return .failure(.stopDaemon, ESRCH)
            }
            table.daemons.remove(at: i)
            return .success(.stopDaemon(role))
        }
    }

    /// ip_vs_ctl.c `ip_vs_new_dest`: IPv4 `inet_addr_type` must be unicast or local; IPv6 must be unicast and not
    /// link-local. Without the routing table, this refuses what is never unicast: 0.0.0.0, multicast, broadcast,
    /// and for IPv6 the unspecified address, multicast and link-local addresses. (fib_frontend.c
    /// `__inet_dev_addr_type` also answers "broadcast" for every address while the namespace has no local routing
    /// table, i.e. before its first IPv4 address, and for an interface's broadcast address: the caller knows.)
    public static func isUnicast(_ address: IPAddress) -> Bool {
        switch address {
        case .v4(let a):
            return a.value != 0 && a.value >> 28 != 0xe && a.value != UInt32.max
        case .v6(let a):
            if a.high == 0 && a.low == 0 { return false }
            if a.high >> 56 == 0xff { return false }
            if a.high >> 54 == 0x3fa { return false }  // fe80::/10
            return true
        }
    }

    // MARK: - The plan, as text

    /// The plan: one line per input line that changes something or fails, then a summary.
    public func plan(resolver: any IPVSAdmNameResolver = SystemNameResolver()) -> String {
        var out = IPVSAdmTextBuffer(capacity: 64 * steps.count + 256)
        var scratch = IPVSAdmTextBuffer(capacity: 512)
        var changes = 0
        var failures = 0
        let listing = IPVSAdmListing(format: [.rule, .numeric], resolver: resolver)
        for step in steps {
            out.append("line ")
            out.appendDecimal(UInt64(step.line))
            out.append(": ")
            guard let change = step.change else {
                failures += 1
                let why = step.standardError.split(separator: "\n").first.map(String.init) ?? "refused"
                out.append("fails (status \(step.status)): \(why)\n")
                continue
            }
            if case .nothing = change {} else { changes += 1 }
            Self.describe(change, listing, into: &out, scratch: &scratch)
            out.append("\n")
        }
        if let endedAt {
            out.append("line \(endedAt) ends the restore: the lines after it are not read\n")
        }
        out.append(
            "dry run: \(changes) change\(changes == 1 ? "" : "s"), \(failures) failing line"
                + "\(failures == 1 ? "" : "s"), exit status \(status); nothing was changed\n")
        return out.string
    }

    /// The simulated table after the restore, exactly as `ipvsadm -Sn` would list it from the kernel.
    public func resultingRules(resolver: any IPVSAdmNameResolver = SystemNameResolver()) -> String {
        let listing = IPVSAdmListing(format: [.rule, .numeric], resolver: resolver)
        let services = table.services.map { s in
            IPVSAdmServiceListing(
                IPVSServiceEntry(service: s.service, kernelFlags: s.service.flags.union(.hashed),
                                 statistics: IPVSStatistics()),
                s.destinations.map { IPVSDestinationEntry(server: $0) })
        }
        var out = IPVSAdmTextBuffer(capacity: 64 * (services.count + table.services.reduce(0) {
            $0 + $1.destinations.count
        }) + 256)
        for service in listing.sortedServices(services) { listing.write(service, into: &out) }
        return out.string
    }

    /// One change of the plan, its rules as `ipvsadm -Sn` writes them (`-A …` for a service, `-a …` for a server),
    /// written into `out`; `scratch` holds the rule lines on the way.
    static func describe(
        _ change: IPVSSimulatedChange, _ listing: IPVSAdmListing, into out: inout IPVSAdmTextBuffer,
        scratch: inout IPVSAdmTextBuffer
    ) {
        /// `-A …` of the service, into `scratch` (no newline).
        func serviceRule(_ s: VirtualService) {
            scratch.removeAll()
            let entry = IPVSServiceEntry(service: s, kernelFlags: s.flags, statistics: IPVSStatistics())
            listing.write(entry, sortedDestinations: [], into: &scratch)
            scratch.cut(from: 0, to: scratch.count - 1)
        }
        /// `-a …` of the server, into `scratch` after its service's line (no newline); returns where it starts.
        func serverRule(_ key: ServiceKey, _ d: RealServer) -> Int {
            scratch.removeAll()
            let entry = IPVSServiceEntry(service: VirtualService(key), kernelFlags: [], statistics: IPVSStatistics())
            listing.write(entry, sortedDestinations: [IPVSDestinationEntry(server: d)], into: &scratch)
            scratch.cut(from: 0, to: scratch.count - 1)
            return scratch.withUnsafeBytes { $0.firstIndex(of: UInt8(ascii: "\n"))! + 1 }
        }
        /// `scratch` from its byte `from` on (past a rule's `-A ` or `-a `).
        func appendRule(from offset: Int = 0) {
            scratch.withUnsafeBytes { out.append(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        }
        switch change {
        case .addService(let s):
            out.append("add service     ")
            serviceRule(s)
            appendRule()
        case .editService(let from, let to):
            out.append("edit service    -E ")
            serviceRule(to)
            appendRule(from: 3)
            out.append("  (was: ")
            serviceRule(from)
            appendRule(from: 3)
            out.append(")")
        case .deleteService(let s):
            // "-A -t 10.0.0.1:80 -s rr -p 60" → "-D -t 10.0.0.1:80  (was: -s rr -p 60, with 2 real servers)".
            let n = s.destinations.count
            serviceRule(s.service)
            // Where " -s " starts; the rule's end without one (the name is then the whole rule, as the words were).
            let scheduler = scratch.withUnsafeBytes { rule in
                var i = 3
                while i + 4 <= rule.count {
                    if rule[i] == 0x20 && rule[i + 1] == UInt8(ascii: "-") && rule[i + 2] == UInt8(ascii: "s")
                        && rule[i + 3] == 0x20
                    {
                        return i
                    }
                    i += 1
                }
                return rule.count
            }
            out.append("delete service  -D ")
            scratch.withUnsafeBytes { rule in
                out.append(UnsafeRawBufferPointer(rebasing: rule[3..<scheduler]))
                out.append("  (was: ")
                if scheduler < rule.count { out.append(UnsafeRawBufferPointer(rebasing: rule[(scheduler + 1)...])) }
            }
            out.append(", with \(n) real server\(n == 1 ? "" : "s"))")
        case .addDestination(let key, let d):
            out.append("add server      ")
            appendRule(from: serverRule(key, d))
        case .editDestination(let key, let from, let to):
            out.append("edit server     -e ")
            appendRule(from: serverRule(key, to) + 3)
            out.append("  (was: ")
            appendRule(from: serverRule(key, from) + 3)
            out.append(")")
        case .deleteDestination(let key, let d):
            out.append("delete server   -d ")
            appendRule(from: serverRule(key, d) + 3)
        case .flush(let services, let destinations):
            out.append(
                "flush           removes \(services) service\(services == 1 ? "" : "s") and \(destinations) "
                    + "real server\(destinations == 1 ? "" : "s")")
        case .setTimeouts(let from, let to):
            out.append(
                "set timeouts    tcp \(to.tcp) tcpfin \(to.tcpFin) udp \(to.udp)  (was: tcp \(from.tcp) "
                    + "tcpfin \(from.tcpFin) udp \(from.udp))")
        case .zero(let key): out.append("zero counters   \(key.map { "\($0)" } ?? "of every service")")
        case .startDaemon(let d): out.append("start daemon    \(d.role) on \(d.interface) syncid \(d.syncID)")
        case .stopDaemon(let role): out.append("stop daemon     \(role)")
        case .nothing(let why): out.append("no change: \(why)")
        }
    }
}

extension IPVSAdmServiceArgument {
    /// The service as ipvsctl sends it to the kernel (`Session.service`); an unknown scheduler name maps to wlc
    /// here, which never matters: the kernel refuses such a service.
    public var virtualService: VirtualService {
        let key: ServiceKey
        if firewallMark != 0 {
            key = .firewallMark(firewallMark, family ?? .inet)
        } else {
            let p: IPProtocol = ipProtocol == 17 ? .udp : ipProtocol == 132 ? .sctp : .tcp
            key = .address(p, address ?? .v4(IPv4Address(0)), port: port)
        }
        return VirtualService(
            key, scheduler: SchedulerKind(rawValue: schedulerName) ?? .wlc, flags: flags,
            persistenceTimeout: timeout, netmask: netmask,
            persistenceEngine: persistenceEngine.isEmpty ? nil : persistenceEngine)
    }
}

extension IPVSAdmServerArgument {
    /// The destination as ipvsctl sends it (`Session.server`).
    public var realServer: RealServer {
        RealServer(
            address ?? .v4(IPv4Address(0)), port: port, forwarding: forwarding, weight: weight,
            upperThreshold: upperThreshold, lowerThreshold: lowerThreshold,
            tunnelType: TunnelType(rawValue: UInt8(truncatingIfNeeded: tunnelType)) ?? .ipip, tunnelPort: tunnelPort,
            tunnelFlags: TunnelFlags(rawValue: tunnelFlags))
    }
}
