import IPVSCore

/// One virtual service as the verifier starts from: its configuration and its destinations in the kernel's list
/// order (index 0 = the head, as `ipvsadm -Ln` lists them and a netlink dump returns them), with the counters the
/// kernel had for them when the capture began.
public struct ServiceSnapshot: Hashable, Sendable {
    public var service: VirtualService
    public var destinations: [DestinationState]

    public init(service: VirtualService, destinations: [DestinationState]) {
        self.service = service
        self.destinations = destinations
    }

    /// A snapshot with the destinations' counters set to zero: for a capture known to begin on a freshly
    /// configured service (e.g. a table read back after the capture, whose counters include its connections).
    public var withZeroCounters: ServiceSnapshot {
        ServiceSnapshot(service: service, destinations: destinations.map { DestinationState($0.server) })
    }
}

/// A change to the IPVS table during a capture: what `ipvsadm -A/-E/-D/-a/-e/-d` does. The verifier applies it to
/// its model at the time it happened, so that connections before and after it are predicted against the table the
/// kernel had for each of them.
public enum TableChange: Hashable, Sendable, CustomStringConvertible {
    case addService(VirtualService)
    case editService(VirtualService)
    case deleteService(ServiceKey)
    /// `ipvsadm -a`: the kernel adds it at the head of the list (or takes it back from its trash, with counters).
    case addDestination(ServiceKey, RealServer)
    /// `ipvsadm -e`, e.g. a drain to weight 0.
    case editDestination(ServiceKey, RealServer)
    /// `ipvsadm -d`: its connections and templates stay bound to it until they end.
    case deleteDestination(ServiceKey, DestinationKey)

    /// The service the change is about.
    public var serviceKey: ServiceKey {
        switch self {
        case .addService(let s), .editService(let s): return s.key
        case .deleteService(let k), .addDestination(let k, _), .editDestination(let k, _),
             .deleteDestination(let k, _):
            return k
        }
    }

    /// A short name, stable for the JSON report: `add-service`, `edit-service`, `delete-service`,
    /// `add-destination`, `edit-destination`, `delete-destination`.
    public var kind: String {
        switch self {
        case .addService: return "add-service"
        case .editService: return "edit-service"
        case .deleteService: return "delete-service"
        case .addDestination: return "add-destination"
        case .editDestination: return "edit-destination"
        case .deleteDestination: return "delete-destination"
        }
    }

    public var description: String {
        switch self {
        case .addService(let s): return "add service \(s.key) \(s.scheduler)"
        case .editService(let s): return "edit service \(s.key) \(s.scheduler)"
        case .deleteService(let k): return "delete service \(k)"
        case .addDestination(let k, let r): return "add \(r.key) weight \(r.weight) to \(k)"
        case .editDestination(let k, let r): return "set \(r.key) of \(k) to weight \(r.weight)"
        case .deleteDestination(let k, let d): return "delete \(d) from \(k)"
        }
    }

    /// The changes that turn table `old` into table `new`, as a re-read of the live table sees them: for a live
    /// verification that polls the kernel. Destinations that appear are added deepest first, so that they end up
    /// in the new list's order (the kernel adds at the head); a destination whose weight, thresholds or forwarding
    /// changed is edited; a service whose configuration changed is edited before its destinations are looked at.
    public static func changes(from old: [ServiceSnapshot], to new: [ServiceSnapshot]) -> [TableChange] {
        var result: [TableChange] = []
        let oldByKey = Dictionary(old.map { ($0.service.key, $0) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(new.map(\.service.key))
        for o in old where !newKeys.contains(o.service.key) {
            result.append(.deleteService(o.service.key))
        }
        for n in new {
            guard let o = oldByKey[n.service.key] else {
                result.append(.addService(n.service))
                for d in n.destinations.reversed() { result.append(.addDestination(n.service.key, d.server)) }
                continue
            }
            if o.service != n.service { result.append(.editService(n.service)) }
            let oldServers = Dictionary(o.destinations.map { ($0.key, $0.server) }, uniquingKeysWith: { a, _ in a })
            let newDestinations = Set(n.destinations.map(\.key))
            for d in o.destinations where !newDestinations.contains(d.key) {
                result.append(.deleteDestination(n.service.key, d.key))
            }
            for d in n.destinations.reversed() {
                if let before = oldServers[d.key] {
                    if before != d.server { result.append(.editDestination(n.service.key, d.server)) }
                } else {
                    result.append(.addDestination(n.service.key, d.server))
                }
            }
        }
        return result
    }
}

/// A table change and when it happened, on the capture's clock.
public struct TimedTableChange: Hashable, Sendable {
    public var time: CaptureTime
    public var change: TableChange

    public init(time: CaptureTime, change: TableChange) {
        self.time = time
        self.change = change
    }
}
