import IPVSCore

/// Feeds a `Verifier` from a `Tap`'s events, in capture order, for a capture file or a live capture.
///
/// The tracker reports a new connection when it sees its first packet, and learns its real server a moment later,
/// from the director's forwarded copy. The feed therefore holds each event in a queue until every connection opened
/// before it has its real server — or `lag` of capture time has passed (the copy was not captured: the verifier then
/// counts it as not seen forwarded). Packets and table changes wait behind the connections before them, so the
/// verifier sees everything in the order it happened.
public struct VerifierFeed: Sendable {
    public private(set) var verifier: Verifier
    /// How long (capture time) a new connection waits for its forwarded copy.
    public var lag: UInt64

    private enum Item: Sendable {
        case opened(Int, CaptureTime)
        case packet(Int, PacketDirection, UInt8, CaptureTime)
        case change(TableChange, CaptureTime)
    }

    private var queue: [Item] = []
    private var head = 0
    /// The connections the verifier has been given (an index into the tracker's `connections`), to count them.
    public private(set) var released = 0
    /// Table changes the verifier refused (the model and the kernel disagree about the table): reported, skipped.
    public private(set) var refusedChanges: [String] = []

    public init(_ verifier: Verifier, lagNanoseconds: UInt64 = 1_000_000_000) {
        self.verifier = verifier
        lag = lagNanoseconds
    }

    /// Takes one event of `tap` seen at `time`, and passes on to the verifier what is ready.
    public mutating func take(_ event: FlowEvent, at time: CaptureTime, from tracker: FlowTracker) {
        switch event {
        case .none, .forwarded:
            break
        case .opened(let i):
            queue.append(.opened(i, time))
        case .packet(let i, let direction, let e):
            queue.append(.packet(i, direction, e, time))
        }
        release(tracker, now: time, flush: false)
    }

    /// A table change at `time` (a live capture that re-reads the kernel's table), in order with the packets.
    public mutating func apply(_ change: TableChange, at time: CaptureTime, tracker: FlowTracker) {
        queue.append(.change(change, time))
        release(tracker, now: time, flush: false)
    }

    /// Lets capture time pass (a live capture's idle moments): connections older than `lag` go on without a
    /// forwarded copy.
    public mutating func idle(until time: CaptureTime, tracker: FlowTracker) {
        release(tracker, now: time, flush: false)
    }

    /// Passes on everything still queued: the end of the capture.
    public mutating func finish(_ tracker: FlowTracker) {
        release(tracker, now: CaptureTime(nanoseconds: .max), flush: true)
    }

    private mutating func release(_ tracker: FlowTracker, now: CaptureTime, flush: Bool) {
        while head < queue.count {
            switch queue[head] {
            case .opened(let i, let t):
                let c = tracker.connections[i]
                guard flush || c.realServer != nil || now.nanoseconds >= t.nanoseconds &+ lag else { return }
                var observed = c
                observed.firstSeen = t
                verifier.observe(observed)
                released += 1
            case .packet(let i, let direction, let e, let t):
                verifier.packet(of: tracker.flow(of: i), direction: direction, event: e, at: t)
            case .change(let change, let t):
                do throws(VerifierError) {
                    try verifier.apply(change, at: t)
                } catch {
                    refusedChanges.append("\(change): \(error)")
                }
            }
            head += 1
        }
        if head > 4096 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    public func report() -> VerificationReport { verifier.report() }
}
