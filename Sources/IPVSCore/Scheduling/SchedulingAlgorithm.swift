/// One of the kernel's scheduling algorithms, with whatever state it keeps per service (`svc->sched_data`).
///
/// The hooks mirror `struct ip_vs_scheduler`: `init(destinations:flags:)` is `init_service`, the three
/// destination hooks are `add_dest`, `del_dest` and `upd_dest` (called after the list changed, as the kernel calls
/// them), and `schedule` is `schedule`. `countersChanged` has no kernel counterpart: the kernel's lc-family
/// schedulers scan the list on every pick, where ours keep an index that must hear about counter changes.
///
/// `schedule` returns the index in `destinations` of the chosen destination, or `nil` where the kernel's
/// scheduler returns NULL ("no destination available").
public protocol SchedulingAlgorithm: Sendable {
    init(destinations: DestinationList, flags: ServiceFlags)
    mutating func destinationAdded(at index: Int, in destinations: DestinationList)
    /// `removed` is no longer in `destinations`; it stood at `index` before removal.
    mutating func destinationRemoved(_ removed: DestinationState, at index: Int, in destinations: DestinationList)
    mutating func destinationUpdated(at index: Int, in destinations: DestinationList)
    mutating func countersChanged(at index: Int, in destinations: DestinationList)
    mutating func flagsChanged(to flags: ServiceFlags, in destinations: DestinationList)
    /// A deleted destination, kept in the trash, had its counters changed (its connections end after it left the
    /// list). No kernel counterpart: lblcr's sets keep deleted members, which still count in `ip_vs_dest_set_max`.
    mutating func trashedCountersChanged(_ state: DestinationState)
    mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int?
}

extension SchedulingAlgorithm {
    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {}
    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {}
    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {}
    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {}
    public mutating func flagsChanged(to flags: ServiceFlags, in destinations: DestinationList) {}
    public mutating func trashedCountersChanged(_ state: DestinationState) {}
}
