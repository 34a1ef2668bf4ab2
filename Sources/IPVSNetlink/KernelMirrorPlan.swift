import IPVSCore

/// The services a ``KernelMirror`` owns. It reads, changes and deletes only these; every other service of the
/// namespace (another program's, an administrator's) is left as it is, and a desired service outside the scope is
/// refused.
public struct MirrorScope: Hashable, Sendable {
    /// An address range: every service whose virtual address is in it (any protocol and port).
    public struct Network: Hashable, Sendable, CustomStringConvertible {
        public var address: IPAddress
        public var prefixLength: Int

        public init(_ address: IPAddress, prefixLength: Int) {
            precondition(
                prefixLength >= 0 && prefixLength <= address.family.bitWidth,
                "prefix length \(prefixLength) for \(address)")
            self.address = address.masked(prefixLength: prefixLength)
            self.prefixLength = prefixLength
        }

        public func contains(_ a: IPAddress) -> Bool {
            a.family == address.family && a.masked(prefixLength: prefixLength) == address
        }

        public var description: String { "\(address)/\(prefixLength)" }
    }

    /// Services owned by key.
    public var services: Set<ServiceKey>
    /// Address services owned by virtual address.
    public var networks: [Network]
    /// Firewall-mark services owned by mark (both families).
    public var firewallMarks: [ClosedRange<UInt32>]

    public init(services: Set<ServiceKey> = [], networks: [Network] = [], firewallMarks: [ClosedRange<UInt32>] = []) {
        self.services = services
        self.networks = networks
        self.firewallMarks = firewallMarks
    }

    /// Every service of the namespace: for a program that owns the whole table.
    public static var everything: MirrorScope {
        MirrorScope(
            networks: [
                Network(.v4(IPv4Address(0)), prefixLength: 0),
                Network(.v6(IPv6Address(high: 0, low: 0)), prefixLength: 0),
            ],
            firewallMarks: [0...UInt32.max])
    }

    public func contains(_ key: ServiceKey) -> Bool {
        if services.contains(key) { return true }
        switch key {
        case .address(_, let address, _): return networks.contains { $0.contains(address) }
        case .firewallMark(let mark, _): return firewallMarks.contains { $0.contains(mark) }
        }
    }
}

/// A service and its destinations as the caller wants them in the kernel.
public struct MirroredService: Hashable, Sendable {
    public var service: VirtualService
    public var destinations: [RealServer]

    public init(_ service: VirtualService, destinations: [RealServer] = []) {
        self.service = service
        self.destinations = destinations
    }
}

/// A service as the kernel has it: its configuration and its destinations with their connection counts.
public struct KernelService: Hashable, Sendable {
    public var service: VirtualService
    public var destinations: [IPVSDestinationEntry]

    public init(_ service: VirtualService, destinations: [IPVSDestinationEntry] = []) {
        self.service = service
        self.destinations = destinations
    }
}

/// Why a desired table was refused. Nothing was read or changed.
public enum KernelMirrorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The desired table names this service twice.
    case duplicateService(ServiceKey)
    /// A desired service names this destination twice.
    case duplicateDestination(ServiceKey, DestinationKey)
    /// A desired service the mirror's scope does not own.
    case outOfScope(ServiceKey)
    /// A desired service or destination the kernel (or ipvsadm) would refuse.
    case invalid(ServiceKey, IPVSConfigurationError)
    /// Reading the kernel's table failed.
    case read(IPVSError)

    public var description: String {
        switch self {
        case .duplicateService(let k): return "desired table: service \(k) given twice"
        case .duplicateDestination(let k, let d): return "desired table: service \(k): destination \(d) given twice"
        case .outOfScope(let k): return "desired table: service \(k) is outside the mirror's scope"
        case .invalid(let k, let e): return "desired table: service \(k): \(e)"
        case .read(let e): return "reading the kernel's table: \(e)"
        }
    }
}

/// One change of a plan and the request that makes it.
public struct MirrorStep: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case addService, editService, deleteService
        case addDestination, editDestination, deleteDestination
        /// A removed destination of a service with graceful termination: weight set to 0, deleted on a later pass
        /// when its connections are gone.
        case drainDestination
        /// A destination that was draining (weight 0) and is desired again: its weight is set back.
        case restoreDestination
    }

    public var kind: Kind
    public var request: IPVSRequest

    public init(_ kind: Kind, _ request: IPVSRequest) {
        self.kind = kind
        self.request = request
    }
}

/// What a pass changes: the steps in the order they must be applied (a service before its destinations), and the
/// destinations left draining.
///
/// Stored compactly: each service the steps touch once, and per step its kind, the index of its service and its
/// destination (a plain value, copied without reference counting). A step's request follows from its kind, so the
/// plan of a 10 000 × 10 load is a few megabytes of plain values rather than 110 000 ``IPVSRequest``s, and
/// ``KernelMirror/apply(plan:)`` encodes straight from it (``IPVSHandle/perform(batch:)`` takes requests built
/// elsewhere). ``requests`` and ``steps`` build the requests when asked.
public struct MirrorPlan: Hashable, Sendable {
    /// The services the steps refer to (each once).
    private(set) var services: [VirtualService] = []
    /// The steps, in order.
    private(set) var entries: [Entry] = []
    /// Destinations at weight 0, not desired, still holding connections: deleted by a later pass once their active
    /// and inactive counts are 0.
    public var draining: [DrainingDestination] = []
    /// True when the kernel's service dumps kept changing while the table was read (services added or deleted in
    /// other network namespaces shift every dump, see ``IPVSHandle/consistentServices(attempts:)``): each desired
    /// service missing from them was then looked up by key, so none is added twice, but a service in scope and not
    /// desired may have been missed and survive this pass. Run another pass.
    public var readDisturbed = false

    public struct DrainingDestination: Hashable, Sendable {
        public var service: ServiceKey
        public var destination: IPVSDestinationEntry
    }

    /// One step: what it does, to which service (an index into `services`), and for destination steps the
    /// destination as the request sends it.
    struct Entry: Hashable, Sendable {
        var kind: MirrorStep.Kind
        var service: Int32
        var server: RealServer?
    }

    public init() {}

    /// How many steps (requests) the plan has.
    public var count: Int { entries.count }

    /// The requests, in order; ``kinds`` says what each is.
    public var requests: [IPVSRequest] { entries.indices.map(request(at:)) }
    public var kinds: [MirrorStep.Kind] { entries.map(\.kind) }
    public var steps: [MirrorStep] { entries.indices.map { MirrorStep(entries[$0].kind, request(at: $0)) } }

    /// What step `index` does.
    public func kind(at index: Int) -> MirrorStep.Kind { entries[index].kind }

    /// The request of step `index`: its kind says which command, its service and destination the body.
    public func request(at index: Int) -> IPVSRequest {
        let entry = entries[index]
        let service = services[Int(entry.service)]
        switch entry.kind {
        case .addService: return .newService(service)
        case .editService: return .setService(service)
        case .deleteService: return .deleteService(service)
        case .addDestination: return .newDestination(entry.server!, in: service)
        case .editDestination, .drainDestination, .restoreDestination:
            return .setDestination(entry.server!, in: service)
        case .deleteDestination: return .deleteDestination(entry.server!, in: service)
        }
    }

    /// Adds `service` to the services steps refer to and returns its index.
    mutating func add(_ service: VirtualService) -> Int32 {
        services.append(service)
        return Int32(services.count - 1)
    }

    mutating func append(_ kind: MirrorStep.Kind, service: Int32, _ server: RealServer? = nil) {
        entries.append(Entry(kind: kind, service: service, server: server))
    }

    mutating func reserveCapacity(services: Int, steps: Int) {
        self.services.reserveCapacity(services)
        entries.reserveCapacity(steps)
    }

    /// The first `count` steps only: what a pass that stopped after them applied.
    public func prefix(_ count: Int) -> MirrorPlan {
        var plan = self
        plan.entries = Array(entries.prefix(count))
        return plan
    }

    public func count(_ kind: MirrorStep.Kind) -> Int { entries.count { $0.kind == kind } }

    /// Steps per kind (kinds without a step left out).
    public var counts: [MirrorStep.Kind: Int] {
        var counts: [MirrorStep.Kind: Int] = [:]
        for entry in entries { counts[entry.kind, default: 0] += 1 }
        return counts
    }

    /// Two plans are equal when they make the same steps and leave the same destinations draining (however their
    /// services are stored).
    public static func == (a: MirrorPlan, b: MirrorPlan) -> Bool {
        a.entries.count == b.entries.count && a.draining == b.draining
            && a.entries.indices.allSatisfy { a.entries[$0].kind == b.entries[$0].kind && a.request(at: $0) == b.request(at: $0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for index in entries.indices {
            hasher.combine(entries[index].kind)
            hasher.combine(request(at: index))
        }
        hasher.combine(draining)
    }
}

/// The planner: kernel state + desired table + scope → the fewest requests that make the kernel's owned part equal
/// to the desired table. A pure function (no I/O), so it is tested on the host.
public enum MirrorPlanner {
    /// Graceful termination applies to TCP services and firewall-mark ones (which may carry TCP), as kube-proxy
    /// does it (pkg/proxy/ipvs graceful_termination.go deletes UDP and SCTP real servers at once: their "connections"
    /// are only entries that would keep sending to a server that is gone).
    public static func drainsGracefully(_ key: ServiceKey) -> Bool {
        switch key {
        case .address(let proto, _, _): return proto == .tcp
        case .firewallMark: return true
        }
    }

    /// Checks the desired table: each service once, each destination once per service, everything within `scope`,
    /// and every value one the kernel accepts (IPVSCore's validation, which follows ip_vs_ctl.c).
    public static func validate(_ desired: [MirroredService], scope: MirrorScope) throws(KernelMirrorError) {
        var seen = Set<ServiceKey>()
        seen.reserveCapacity(desired.count)
        for entry in desired {
            let key = entry.service.key
            guard seen.insert(key).inserted else { throw .duplicateService(key) }
            guard scope.contains(key) else { throw .outOfScope(key) }
            do { try entry.service.validate() } catch { throw .invalid(key, error) }
            let servers = entry.destinations
            for server in servers {
                do { try server.validate(for: entry.service) } catch { throw .invalid(key, error) }
            }
            // Duplicates: pairwise for a few destinations (no set to allocate per service), a set beyond.
            if servers.count <= 16 {
                for i in servers.indices {
                    for j in servers.indices where j > i && servers[i].key == servers[j].key {
                        throw .duplicateDestination(key, servers[i].key)
                    }
                }
            } else {
                var seen = Set<DestinationKey>()
                seen.reserveCapacity(servers.count)
                for server in servers where !seen.insert(server.key).inserted {
                    throw .duplicateDestination(key, server.key)
                }
            }
        }
    }

    /// The plan from what the kernel has (`kernel`: every service of the namespace, owned or not) to `desired`.
    ///
    /// - Services in scope and not desired are deleted (with their destinations: ip_vs_ctl.c `ip_vs_del_service`).
    /// - A desired service missing from the kernel is added, one whose fields differ from what the kernel reports
    ///   (scheduler, flags, timeout, netmask, persistence engine) is edited.
    /// - A desired destination missing is added, one whose fields differ (forwarding, weight, thresholds, tunnel)
    ///   is edited; one at weight 0 in the kernel coming back with another weight is restored.
    /// - A destination not desired is deleted at once in a UDP or SCTP service, or in any service when it has no
    ///   active or inactive connection; otherwise it is set to weight 0 (drained) and left for a later pass.
    ///
    /// Services outside `scope` are never touched. Call ``validate(_:scope:)`` first.
    public static func plan(kernel: [KernelService], desired: [MirroredService], scope: MirrorScope) -> MirrorPlan {
        var plan = MirrorPlan()
        var current: [ServiceKey: Int] = [:]
        current.reserveCapacity(kernel.count)
        for (index, entry) in kernel.enumerated() where scope.contains(entry.service.key) {
            current[entry.service.key] = index
        }
        var size = 0
        for entry in desired { size += 1 + entry.destinations.count }
        // Deletions first: a deleted service frees nothing a later add needs, but it keeps the batch's failures
        // independent of one another. (The set of desired keys is only needed when the kernel has owned services.)
        var deleted = 0
        if !current.isEmpty {
            var wanted = Set<ServiceKey>()
            wanted.reserveCapacity(desired.count)
            for entry in desired { wanted.insert(entry.service.key) }
            for entry in kernel where current[entry.service.key] != nil && !wanted.contains(entry.service.key) {
                if deleted == 0 { plan.reserveCapacity(services: desired.count + 16, steps: size + 16) }
                deleted += 1
                plan.append(.deleteService, service: plan.add(entry.service))
            }
        }
        if deleted == 0 { plan.reserveCapacity(services: desired.count, steps: size) }

        for entry in desired {
            let service = entry.service
            guard let index = current[service.key] else {
                let s = plan.add(service)
                plan.append(.addService, service: s)
                for server in entry.destinations { plan.append(.addDestination, service: s, server) }
                continue
            }
            let existing = kernel[index]
            // The service is added to the plan's list when its first step comes.
            var s: Int32? = nil
            func ref(_ plan: inout MirrorPlan) -> Int32 {
                if let s { return s }
                let added = plan.add(service)
                s = added
                return added
            }
            if existing.service != service {
                plan.append(.editService, service: ref(&plan))
            }
            var present: [DestinationKey: Int] = [:]
            present.reserveCapacity(existing.destinations.count)
            for (i, d) in existing.destinations.enumerated() { present[d.server.key] = i }
            var desiredKeys = Set<DestinationKey>()
            desiredKeys.reserveCapacity(entry.destinations.count)
            for server in entry.destinations { desiredKeys.insert(server.key) }

            for d in existing.destinations where !desiredKeys.contains(d.server.key) {
                let idle = d.activeConnections == 0 && d.inactiveConnections == 0
                if idle || !drainsGracefully(service.key) {
                    plan.append(.deleteDestination, service: ref(&plan), d.server)
                } else if d.server.weight != 0 {
                    var drained = d.server
                    drained.weight = 0
                    plan.append(.drainDestination, service: ref(&plan), drained)
                    plan.draining.append(.init(service: service.key, destination: d))
                } else {
                    plan.draining.append(.init(service: service.key, destination: d))
                }
            }
            for server in entry.destinations {
                guard let i = present[server.key] else {
                    plan.append(.addDestination, service: ref(&plan), server)
                    continue
                }
                let have = existing.destinations[i].server
                if have != server {
                    let kind: MirrorStep.Kind =
                        have.weight == 0 && server.weight != 0 ? .restoreDestination : .editDestination
                    plan.append(kind, service: ref(&plan), server)
                }
            }
        }
        return plan
    }
}
