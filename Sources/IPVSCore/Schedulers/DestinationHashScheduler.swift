// PLACEHOLDER: not implemented yet; replaced by the real scheduler.
public struct DestinationHashScheduler: SchedulingAlgorithm {
    public init(destinations: DestinationList, flags: ServiceFlags) {}
    public func pick(_ flow: Flow, in destinations: DestinationList) -> Int? { nil }
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? { pick(flow, in: destinations) }
}
