// PLACEHOLDER: not implemented yet; replaced by the real scheduler.
public struct LocalityBasedLeastConnectionReplicationScheduler: SchedulingAlgorithm {
    public init(destinations: DestinationList, flags: ServiceFlags) {}
    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? { nil }
}
