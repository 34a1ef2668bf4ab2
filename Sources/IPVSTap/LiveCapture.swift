import Glibc

/// Why `Tap.runLive` returned.
public enum LiveCaptureEnd: Hashable, Sendable {
    /// The deadline passed.
    case deadline
    /// The tracker had seen the number of new connections asked for.
    case connections
    /// `wake` asked to stop.
    case stopped
    /// The handle ended (`breakLoop()`, or a file's end).
    case end
}

extension CaptureTime {
    /// CLOCK_REALTIME, the clock a live capture stamps its packets with.
    public static func now() -> CaptureTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return CaptureTime(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }
}

extension Tap {
    /// Reads a live capture until `deadline` (capture time, i.e. CLOCK_REALTIME) has passed, or the tracker has seen
    /// `connections` new connections in all, or `wake` returns true. `wake` is called with the time after every
    /// frame and after every wait that ended without one: at least once per read timeout, with traffic or none, so
    /// that an idle capture still ends on time. No wait goes beyond the deadline.
    /// `body` gets every event other than `.none`, with the frame's time and the tracker; `wake` may change the
    /// tracker (`FlowTracker.watch`, for a table that changed). Returns the frames read and why it ended.
    public mutating func runLive(
        _ handle: borrowing PcapHandle, deadline: CaptureTime? = nil, connections: Int? = nil,
        _ body: (FlowEvent, CaptureTime, borrowing FlowTracker) throws -> Void = { _, _, _ in },
        wake: (CaptureTime, inout FlowTracker) throws -> Bool = { _, _ in false }
    ) throws -> (frames: Int, end: LiveCaptureEnd) {
        let linkType = handle.linkType
        var frames = 0
        while true {
            var wait = handle.readTimeoutMilliseconds
            if let deadline {
                let now = CaptureTime.now()
                if now >= deadline { return (frames, .deadline) }
                let left = (deadline.nanoseconds - now.nanoseconds + 999_999) / 1_000_000
                wait = Int32(clamping: min(UInt64(wait), left))
            }
            switch try handle.next(waitingAtMost: wait) {
            case .packet(let record):
                frames += 1
                let event = process(record.data, linkType: linkType, at: record.time)
                if event != .none { try body(event, record.time, tracker) }
                if let connections, tracker.connections.count >= connections { return (frames, .connections) }
            case .timeout:
                break
            case .end:
                return (frames, .end)
            }
            if try wake(CaptureTime.now(), &tracker) { return (frames, .stopped) }
        }
    }
}
