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
public struct MirrorPlan: Hashable, Sendable {
    /// The requests, in order; ``kinds`` says what each is. Two arrays rather than one of steps, so that applying a
    /// plan hands `requests` to the batch as it is.
    public private(set) var requests: [IPVSRequest] = []
    public private(set) var kinds: [MirrorStep.Kind] = []
    /// Destinations at weight 0, not desired, still holding connections: deleted by a later pass once their active
    /// and inactive counts are 0.
    public var draining: [DrainingDestination] = []

    public struct DrainingDestination: Hashable, Sendable {
        public var service: ServiceKey
        public var destination: IPVSDestinationEntry
    }

    public init() {}

    public var steps: [MirrorStep] { zip(kinds, requests).map { MirrorStep($0, $1) } }

    mutating func append(_ kind: MirrorStep.Kind, _ request: IPVSRequest) {
        kinds.append(kind)
        requests.append(request)
    }

    mutating func reserveCapacity(_ n: Int) {
        kinds.reserveCapacity(n)
        requests.reserveCapacity(n)
    }

    /// The first `count` steps only: what a pass that stopped after them applied.
    public func prefix(_ count: Int) -> MirrorPlan {
        var plan = self
        plan.kinds = Array(kinds.prefix(count))
        plan.requests = Array(requests.prefix(count))
        return plan
    }

    public func count(_ kind: MirrorStep.Kind) -> Int { kinds.count { $0 == kind } }

    /// Steps per kind (kinds without a step left out).
    public var counts: [MirrorStep.Kind: Int] {
        var counts: [MirrorStep.Kind: Int] = [:]
        for kind in kinds { counts[kind, default: 0] += 1 }
        return counts
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
        var wanted = Set<ServiceKey>()
        wanted.reserveCapacity(desired.count)
        var size = 0
        for entry in desired {
            wanted.insert(entry.service.key)
            size += 1 + entry.destinations.count
        }
        plan.reserveCapacity(size)

        // Deletions first: a deleted service frees nothing a later add needs, but it keeps the batch's failures
        // independent of one another.
        for entry in kernel where current[entry.service.key] != nil && !wanted.contains(entry.service.key) {
            plan.append(.deleteService, .deleteService(entry.service))
        }

        for entry in desired {
            let service = entry.service
            guard let index = current[service.key] else {
                plan.append(.addService, .newService(service))
                for server in entry.destinations {
                    plan.append(.addDestination, .newDestination(server, in: service))
                }
                continue
            }
            let existing = kernel[index]
            if existing.service != service {
                plan.append(.editService, .setService(service))
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
                    plan.append(.deleteDestination, .deleteDestination(d.server, in: service))
                } else if d.server.weight != 0 {
                    var drained = d.server
                    drained.weight = 0
                    plan.append(.drainDestination, .setDestination(drained, in: service))
                    plan.draining.append(.init(service: service.key, destination: d))
                } else {
                    plan.draining.append(.init(service: service.key, destination: d))
                }
            }
            for server in entry.destinations {
                guard let i = present[server.key] else {
                    plan.append(.addDestination, .newDestination(server, in: service))
                    continue
                }
                let have = existing.destinations[i].server
                if have != server {
                    let kind: MirrorStep.Kind =
                        have.weight == 0 && server.weight != 0 ? .restoreDestination : .editDestination
                    plan.append(kind, .setDestination(server, in: service))
                }
            }
        }
        return plan
    }
}
