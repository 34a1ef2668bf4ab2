import CIPVSLinux
import Foundation
import Glibc
import IPVSCore
import IPVSTap
import Synchronization

/// The pcap tap capturing live in a namespace (a thread of this process that entered it opens the capture, so the
/// capture socket belongs to that namespace): every frame on `any`, filtered by a BPF filter, decoded and tracked by
/// `Tap`, and verified as it comes (VerifierFeed, every packet through the kernel's state machine) against the table
/// it starts from and the changes `post`ed to it: the verification runs on the capture's thread while the traffic
/// goes on. `stop()` ends it and returns the tracker and the verifier's report.
final class TapCapture: @unchecked Sendable {
    // @unchecked: the capture state is touched by the capture thread until `stop()` has joined it.
    struct Result {
        var tracker: FlowTracker
        var report: VerificationReport
        var refusedChanges: [String]
        var events: Int
        var frames: Int
        var kernelDropped: UInt32
        var decoder: PacketDecoder
    }

    private let stopFlag = Atomic<Bool>(false)
    private let posted = Mutex<[TimedTableChange]>([])
    private var thread: NamespaceThread? = nil
    private var result: Result? = nil

    /// `filter`: a BPF expression; by default the one `CaptureFilter` writes for `services` (which for many services
    /// can outgrow the kernel's socket option memory, net.core.optmem_max: libpcap then filters in user space).
    /// `table`: where the verifier starts (the kernel's table when the capture starts).
    init(in namespace: NetworkNamespace, services: [WatchedService], table: [ServiceSnapshot],
         filter: String? = nil) throws {
        let ready = DispatchSemaphore(value: 0)
        let box = StartBox()
        thread = NamespaceThread(in: namespace.path, onEntryFailure: { ready.signal() }) { [self] in
            var started = false
            do {
                // Immediate mode: frames as they come; the handle's next() returns at least every read timeout
                // (100 ms), so the stop flag is seen with traffic or none. A buffer that holds a whole run's frames
                // (about 14 per connection): the verifier may fall behind the traffic for a while.
                var options = LiveCaptureOptions()
                options.bufferSize = 96 << 20
                let handle = try PcapHandle.capture(interface: "any", options: options)
                try handle.setFilter(filter ?? CaptureFilter.expression(for: services))
                var feed = VerifierFeed(try Verifier(table: table, options: VerifierOptions(
                    lifecycle: .tracked(ProtocolTimeouts()), recordEveryConnection: false)))
                started = true
                ready.signal()
                var tap = Tap(services: services)
                var pending: [TimedTableChange] = []
                var events = 0
                var frames = 0
                let linkType = handle.linkType
                // Posted table changes, applied in time order before the first packet captured after them.
                func applyChanges(upTo time: CaptureTime, tracker: FlowTracker) {
                    let new = posted.withLock { p in
                        defer { p.removeAll() }
                        return p
                    }
                    if !new.isEmpty { pending = (pending + new).sorted { $0.time < $1.time } }
                    while let c = pending.first, c.time <= time {
                        feed.apply(c.change, at: c.time, tracker: tracker)
                        pending.removeFirst()
                    }
                }
                // Until told to stop, then until the capture has been quiet for one read timeout (what was in flight).
                loop: while true {
                    switch try handle.next() {
                    case .packet(let record):
                        frames += 1
                        applyChanges(upTo: record.time, tracker: tap.tracker)
                        let event = tap.process(record.data, linkType: linkType, at: record.time)
                        if event != .none {
                            events += 1
                            feed.take(event, at: record.time, from: tap.tracker)
                        }
                    case .timeout:
                        applyChanges(upTo: CaptureTime.now(), tracker: tap.tracker)
                        if stopFlag.load(ordering: .acquiring) { break loop }
                    case .end:
                        break loop
                    }
                }
                applyChanges(upTo: CaptureTime(nanoseconds: .max), tracker: tap.tracker)
                feed.finish(tap.tracker)
                result = Result(tracker: tap.tracker, report: feed.report(), refusedChanges: feed.refusedChanges,
                                events: events, frames: frames,
                                kernelDropped: handle.kernelStatistics()?.dropped ?? 0, decoder: tap.decoder)
                return nil
            } catch {
                if !started {
                    box.failure = "\(error)"
                    ready.signal()
                }
                return "\(error)"
            }
        }
        ready.wait()
        if let failure = box.failure { throw NamespaceThread.Failure(description: failure) }
    }

    /// A table change made at `change.time`, for the verifier.
    func post(_ change: TimedTableChange) {
        posted.withLock { $0.append(change) }
    }

    private final class StartBox: @unchecked Sendable {
        var failure: String? = nil
    }

    /// Stops the capture once the traffic in flight has been read, and returns what it saw.
    func stop() throws -> Result {
        stopFlag.store(true, ordering: .releasing)
        try thread?.join()
        thread = nil
        guard let result else { throw NamespaceThread.Failure(description: "the capture ended without a result") }
        return result
    }

    deinit {
        stopFlag.store(true, ordering: .releasing)
        try? thread?.join()
    }
}
