import IPVSCore

/// A decoder and a flow tracker together: frames in, connections out. One `DecodedPacket` is reused for every
/// frame, so the per-packet path allocates nothing but the tracker's growth (a new connection, a new tuple).
public struct Tap: Sendable {
    public var decoder: PacketDecoder
    public var tracker: FlowTracker
    var packet = DecodedPacket()

    /// A tap for `services`; the decoder opens GUE on the tunnel ports of their real servers.
    public init(services: [WatchedService], routes: RouteTopology = RouteTopology(),
                timeouts: FlowTimeouts = FlowTimeouts()) {
        tracker = FlowTracker(services: services, routes: routes, timeouts: timeouts)
        decoder = PacketDecoder(guePorts: tracker.guePorts)
    }

    /// Decodes one frame and, when it decodes, tracks it.
    @discardableResult
    public mutating func process(_ frame: UnsafeRawBufferPointer, linkType: LinkType,
                                 at time: CaptureTime) -> FlowEvent {
        guard decoder.decode(frame, linkType: linkType, into: &packet) == .decoded else { return .none }
        return tracker.track(packet, at: time)
    }

    /// Reads `handle` to its end, or until `body` or `idle` (called on a live capture's timeouts) returns false, or
    /// `limit` frames were read. `body` gets every event other than `.none`, with the frame's time.
    /// Returns the number of frames read.
    @discardableResult
    public mutating func run(
        _ handle: borrowing PcapHandle, limit: Int = .max,
        _ body: (FlowEvent, CaptureTime) throws -> Bool = { _, _ in true },
        idle: () throws -> Bool = { true }
    ) throws -> Int {
        let linkType = handle.linkType
        var frames = 0
        while frames < limit {
            switch try handle.next() {
            case .packet(let record):
                frames += 1
                let event = process(record.data, linkType: linkType, at: record.time)
                if event != .none, try !body(event, record.time) { return frames }
            case .timeout:
                if try !idle() { return frames }
            case .end:
                return frames
            }
        }
        return frames
    }
}
