/// A service's scheduling algorithm, chosen at run time by name, dispatched without existentials.
public enum Scheduler: Sendable {
    case rr(RoundRobinScheduler)
    case wrr(WeightedRoundRobinScheduler)
    case lc(LeastConnectionScheduler)
    case wlc(WeightedLeastConnectionScheduler)
    case sed(ShortestExpectedDelayScheduler)
    case nq(NeverQueueScheduler)
    case dh(DestinationHashScheduler)
    case sh(SourceHashScheduler)
    case mh(MaglevHashScheduler)
    case fo(WeightedFailoverScheduler)
    case ovf(WeightedOverflowScheduler)
    case lblc(LocalityBasedLeastConnectionScheduler)
    case lblcr(LocalityBasedLeastConnectionReplicationScheduler)
    /// Only while a hook runs: the payload is moved out so that it is mutated in place, without a copy.
    case moved

    public init(_ kind: SchedulerKind, destinations: DestinationList, flags: ServiceFlags) {
        switch kind {
        case .rr: self = .rr(.init(destinations: destinations, flags: flags))
        case .wrr: self = .wrr(.init(destinations: destinations, flags: flags))
        case .lc: self = .lc(.init(destinations: destinations, flags: flags))
        case .wlc: self = .wlc(.init(destinations: destinations, flags: flags))
        case .sed: self = .sed(.init(destinations: destinations, flags: flags))
        case .nq: self = .nq(.init(destinations: destinations, flags: flags))
        case .dh: self = .dh(.init(destinations: destinations, flags: flags))
        case .sh: self = .sh(.init(destinations: destinations, flags: flags))
        case .mh: self = .mh(.init(destinations: destinations, flags: flags))
        case .fo: self = .fo(.init(destinations: destinations, flags: flags))
        case .ovf: self = .ovf(.init(destinations: destinations, flags: flags))
        case .lblc: self = .lblc(.init(destinations: destinations, flags: flags))
        case .lblcr: self = .lblcr(.init(destinations: destinations, flags: flags))
        }
    }

    public var kind: SchedulerKind {
        switch self {
        case .rr: return .rr
        case .wrr: return .wrr
        case .lc: return .lc
        case .wlc: return .wlc
        case .sed: return .sed
        case .nq: return .nq
        case .dh: return .dh
        case .sh: return .sh
        case .mh: return .mh
        case .fo: return .fo
        case .ovf: return .ovf
        case .lblc: return .lblc
        case .lblcr: return .lblcr
        case .moved: preconditionFailure("scheduler used while moved out")
        }
    }

    /// A change the algorithm must hear about: the kernel's add_dest/del_dest/upd_dest hooks, and more.
    public enum Event: Sendable {
        case added(Int)
        case removed(DestinationState, Int)
        case updated(Int)
        case countersChanged(Int)
        case flagsChanged(ServiceFlags)
        case trashedCountersChanged(DestinationState)
    }

    static func deliver<A: SchedulingAlgorithm>(_ event: Event, to a: inout A, _ destinations: DestinationList) {
        switch event {
        case .added(let i): a.destinationAdded(at: i, in: destinations)
        case .removed(let d, let i): a.destinationRemoved(d, at: i, in: destinations)
        case .updated(let i): a.destinationUpdated(at: i, in: destinations)
        case .countersChanged(let i): a.countersChanged(at: i, in: destinations)
        case .flagsChanged(let f): a.flagsChanged(to: f, in: destinations)
        case .trashedCountersChanged(let d): a.trashedCountersChanged(d)
        }
    }

    /// Delivers `event` to the algorithm in place: the payload is moved out first so that mutating it does not
    /// copy its storage, then put back. Concrete dispatch, no existential.
    public mutating func handle(_ event: Event, in destinations: DestinationList) {
        switch self {
        case .rr(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .rr(a)
        case .wrr(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .wrr(a)
        case .lc(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .lc(a)
        case .wlc(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .wlc(a)
        case .sed(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .sed(a)
        case .nq(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .nq(a)
        case .dh(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .dh(a)
        case .sh(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .sh(a)
        case .mh(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .mh(a)
        case .fo(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .fo(a)
        case .ovf(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .ovf(a)
        case .lblc(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .lblc(a)
        case .lblcr(var a):
            self = .moved
            Scheduler.deliver(event, to: &a, destinations)
            self = .lblcr(a)
        case .moved: preconditionFailure("scheduler used while moved out")
        }
    }

    /// The pick: the kernel scheduler's `schedule` hook. Concrete dispatch, no existential, no allocation.
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        switch self {
        // Stateless picks read the payload in place.
        case .lc(let a): return a.pick(in: destinations)
        case .wlc(let a): return a.pick(in: destinations)
        case .sed(let a): return a.pick(in: destinations)
        case .nq(let a): return a.pick(in: destinations)
        case .dh(let a): return a.pick(flow, in: destinations)
        case .sh(let a): return a.pick(flow, in: destinations)
        case .mh(let a): return a.pick(flow, in: destinations)
        case .fo(let a): return a.pick(in: destinations)
        case .ovf(let a): return a.pick(in: destinations)
        // Stateful picks consume the payload (no copy, no retain), mutate it, and put it back.
        case .rr:
            guard case .rr(var a) = consume self else { preconditionFailure() }
            let picked = a.schedule(flow, in: destinations, now: now)
            self = .rr(a)
            return picked
        case .wrr:
            guard case .wrr(var a) = consume self else { preconditionFailure() }
            let picked = a.schedule(flow, in: destinations, now: now)
            self = .wrr(a)
            return picked
        case .lblc:
            guard case .lblc(var a) = consume self else { preconditionFailure() }
            let picked = a.schedule(flow, in: destinations, now: now)
            self = .lblc(a)
            return picked
        case .lblcr:
            guard case .lblcr(var a) = consume self else { preconditionFailure() }
            let picked = a.schedule(flow, in: destinations, now: now)
            self = .lblcr(a)
            return picked
        case .moved: preconditionFailure("scheduler used while moved out")
        }
    }
}
