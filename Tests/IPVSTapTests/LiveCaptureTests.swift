#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPVSCore
import Testing

@testable import IPVSTap

/// One result handed from a thread to the one that waits for it (after the semaphore).
final class ResultBox<R>: @unchecked Sendable {
    var result: Result<R, any Error>? = nil
}

/// Live capture on the loopback interface: needs CAP_NET_RAW (root), so it is enabled only for root. The traffic is
/// one UDP datagram to 127.0.0.1 on a random port, matched by a filter on that port.
@Suite("Live capture", .enabled(if: geteuid() == 0, "needs CAP_NET_RAW (root)"))
struct LiveCaptureTests {
    static func sendDatagram(to port: UInt16, payload: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        #expect(sent == payload.count)
    }

    /// Captures on `interface` until the datagram shows up (or 5 s), decodes it and returns it.
    static func capture(on interface: String, expecting linkType: LinkType) throws -> DecodedPacket? {
        let port = UInt16.random(in: 20000...60000)
        var options = LiveCaptureOptions()
        options.timeoutMilliseconds = 50
        let h = try PcapHandle.capture(interface: interface, options: options)
        #expect(h.linkType == linkType)
        try h.setFilter("udp and dst port \(port)")
        sendDatagram(to: port, payload: Array("tap".utf8))
        var decoder = PacketDecoder()
        var packet = DecodedPacket()
        var waits = 0
        while waits < 100 {
            switch try h.next() {
            case .packet(let r):
                #expect(decoder.decode(r.data, linkType: h.linkType, into: &packet) == .decoded)
                #expect(packet.destinationPort == port)
                #expect(r.originalLength == UInt32(r.data.count))
                return packet
            case .timeout:
                waits += 1
            case .end:
                return nil
            }
        }
        return nil
    }

    @Test("a datagram to 127.0.0.1 is captured on lo (Ethernet framing) through a BPF filter")
    func loopback() throws {
        let p = try Self.capture(on: "lo", expecting: .ethernet)
        #expect(p?.ip.sourceAddress == T.a("127.0.0.1"))
        #expect(p?.ip.destinationAddress == T.a("127.0.0.1"))
        #expect(p?.ip.totalLength == 31)
    }

    @Test("on any, frames come with Linux cooked v2 headers naming the interface")
    func anyDevice() throws {
        let p = try Self.capture(on: "any", expecting: .linuxSLL2)
        #expect(p?.interfaceIndex == if_nametoindex("lo"))
        #expect(p?.ip.destinationAddress == T.a("127.0.0.1"))
    }

    /// Runs `body` on a thread of its own and waits for it up to `limit` seconds: a capture that does not end is a
    /// failure reported here, not a test run that hangs. Returns body's result, or nil when it did not end in time.
    static func bounded<R: Sendable>(_ limit: Double, _ body: @escaping @Sendable () throws -> R) -> R? {
        let box = ResultBox<R>(), done = DispatchSemaphore(value: 0)
        Thread {
            box.result = Result { try body() }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + limit) == .success else { return nil }
        switch box.result! {
        case .success(let r): return r
        case .failure(let e):
            Issue.record(e)
            return nil
        }
    }

    static func udpService(_ port: UInt16) -> WatchedService {
        WatchedService(VirtualService(.address(.udp, T.a("127.0.0.1"), port: port), scheduler: .rr),
                       realServers: [RealServer(T.a("127.0.0.2"), port: port, forwarding: .masquerade)])
    }

    @Test("with no traffic at all, next() answers .timeout after its wait, immediate mode or not",
          arguments: [true, false])
    func idleNext(immediate: Bool) throws {
        let port = UInt16.random(in: 20000...60000)
        let answers = Self.bounded(20) { () throws -> [String] in
            var options = LiveCaptureOptions()
            options.immediate = immediate
            options.timeoutMilliseconds = 50
            let h = try PcapHandle.capture(interface: "lo", options: options)
            try h.setFilter("udp and dst port \(port)")
            var answers: [String] = []
            for _ in 0..<4 {
                switch try h.next() {
                case .packet: answers.append("packet")
                case .timeout: answers.append("timeout")
                case .end: answers.append("end")
                }
            }
            return answers
        }
        #expect(answers == ["timeout", "timeout", "timeout", "timeout"], "nil: next() blocked for 20 s")
    }

    @Test("an idle live capture with a deadline (verify --duration 1) ends at the deadline")
    func idleDeadline() throws {
        let port = UInt16.random(in: 20000...60000)
        let outcome = Self.bounded(20) { () throws -> (LiveCaptureEnd, UInt64, Int) in
            let h = try PcapHandle.capture(interface: "lo")
            try h.setFilter("udp and dst port \(port)")
            var tap = Tap(services: [Self.udpService(port)])
            let started = CaptureTime.now()
            let run = try tap.runLive(h, deadline: CaptureTime(nanoseconds: started.nanoseconds + 1_000_000_000))
            return (run.end, CaptureTime.now().nanoseconds - started.nanoseconds, run.frames)
        }
        #expect(outcome != nil, "the capture did not end within 20 s")
        guard let (end, elapsed, frames) = outcome else { return }
        #expect(end == .deadline)
        #expect(frames == 0)
        #expect(elapsed >= 1_000_000_000, "ended before its deadline: \(elapsed) ns")
    }

    @Test("a live capture asked for N connections (verify --count N) stops at the N-th of more datagrams")
    func countStops() throws {
        let port = UInt16.random(in: 20000...60000)
        let n = 5
        let ready = DispatchSemaphore(value: 0)
        // The sender waits until the capture is open; it sends N + 3 datagrams, each from a socket (port) of its own.
        Thread {
            ready.wait()
            for _ in 0..<(n + 3) { Self.sendDatagram(to: port, payload: Array("count".utf8)) }
        }.start()
        let outcome = Self.bounded(30) { () throws -> (LiveCaptureEnd, Int, Int) in
            let h = try PcapHandle.capture(interface: "lo")
            try h.setFilter("udp and dst port \(port)")
            var tap = Tap(services: [Self.udpService(port)])
            var opened = 0
            ready.signal()
            let run = try tap.runLive(h, deadline: CaptureTime(nanoseconds: CaptureTime.now().nanoseconds
                                                                 + 20_000_000_000), connections: n) { event, _, _ in
                if case .opened = event { opened += 1 }
            }
            return (run.end, tap.tracker.connections.count, opened)
        }
        #expect(outcome != nil, "the capture did not end within 30 s")
        guard let (end, connections, opened) = outcome else { return }
        #expect(end == .connections)
        #expect(connections == n)
        #expect(opened == n)
    }

    @Test("breakLoop() ends an idle live capture")
    func breakLoopEnds() throws {
        let port = UInt16.random(in: 20000...60000)
        let outcome = Self.bounded(20) { () throws -> LiveCaptureEnd in
            let h = try PcapHandle.capture(interface: "lo")
            try h.setFilter("udp and dst port \(port)")
            var tap = Tap(services: [Self.udpService(port)])
            var wakes = 0
            // libpcap's flag, set between two waits of an idle capture.
            return try tap.runLive(h) { _, _, _ in } wake: { _, _ in
                wakes += 1
                if wakes == 3 { h.breakLoop() }
                return false
            }.end
        }
        #expect(outcome == .end)
    }

    @Test("a missing interface is an error that names it")
    func missingInterface() {
        do {
            _ = try PcapHandle.capture(interface: "nosuchif0")
            Issue.record("opened")
        } catch {
            #expect(error.operation.hasPrefix("capture on nosuchif0"))
            #expect(!error.message.isEmpty)
        }
    }
}
