@testable import IPVSCore
import Testing

/// The least-load schedulers (lc, wlc, sed, nq, fo, ovf) keep a tournament tree where the kernel rescans the list.
/// These tests check hand-derived picks, and compare every pick against a literal transcription of the kernel's
/// scan loops (below, written from ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c, ip_vs_ovf.c)
/// over long random sequences of counter, weight and overload changes.
@Suite("Least-load schedulers: lc, wlc, sed, nq, fo, ovf")
struct LeastConnectionSchedulerTests {
    /// List order [C, B, A] after adding A, B, C.
    func make(_ kind: SchedulerKind, weights: [Int32] = [1, 1, 1]) throws -> ServiceScheduler {
        try ServiceScheduler(tcpService(kind), servers: weights.enumerated().map {
            server("10.0.1.\($0.offset + 1)", weight: $0.element)
        })
    }

    @Test("lc: lowest active×256 + inactive, the first in list order on a tie")
    func lc() throws {
        var s = try make(.lc)
        #expect(s.next() == "10.0.1.3")  // all idle: the head
        s.setCounters(of: s.key("10.0.1.3"), active: 1, inactive: 0)  // 256
        s.setCounters(of: s.key("10.0.1.2"), active: 0, inactive: 3)  // 3
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 3)  // 3: tie with .2, which comes first
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.2"), active: 0, inactive: 4)
        #expect(s.next() == "10.0.1.1")
        try s.editDestination(server("10.0.1.1", weight: 0))  // quiesced
        #expect(s.next() == "10.0.1.2")
    }

    @Test("wlc: lowest overhead/weight compared by cross-multiplication, first on a tie")
    func wlc() throws {
        var s = try make(.wlc, weights: [1, 2, 3])  // list [.3 w3, .2 w2, .1 w1]
        #expect(s.next() == "10.0.1.3")  // all 0/w: tie, the head
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 0)  // 768/3 = 256
        s.setCounters(of: s.key("10.0.1.2"), active: 2, inactive: 0)  // 512/2 = 256
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 0)  // 256/1 = 256
        #expect(s.next() == "10.0.1.3")  // three-way tie: first
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 1)  // 769/3 > 256
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 200)  // 200/1 < 256
        #expect(s.next() == "10.0.1.1")
    }

    @Test("sed: (active + 1)/weight; inactive connections do not count")
    func sed() throws {
        var s = try make(.sed, weights: [1, 3])  // list [.2 w3, .1 w1]
        s.setCounters(of: s.key("10.0.1.2"), active: 2, inactive: 50)  // 3/3 = 1
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 0)    // 1/1 = 1: tie → .2 first
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.2"), active: 3, inactive: 0)    // 4/3 > 1
        #expect(s.next() == "10.0.1.1")
    }

    @Test("nq: the first idle destination wins outright; otherwise the sed choice")
    func nq() throws {
        var s = try make(.nq, weights: [100, 10, 1])  // list [.3 w1, .2 w10, .1 w100]
        s.setCounters(of: s.key("10.0.1.3"), active: 5, inactive: 0)
        #expect(s.next() == "10.0.1.2")  // first idle, though .1 has the higher weight
        s.setCounters(of: s.key("10.0.1.2"), active: 1, inactive: 0)  // 2/10
        s.setCounters(of: s.key("10.0.1.1"), active: 30, inactive: 0)  // 31/100 > 2/10
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.1"), active: 10, inactive: 0)  // 11/100 < 2/10
        #expect(s.next() == "10.0.1.1")
    }

    @Test("fo: the highest weight that is not overloaded, the first on a tie")
    func fo() throws {
        var s = try ServiceScheduler(tcpService(.fo), servers: [
            server("10.0.1.1", weight: 5), server("10.0.1.2", weight: 9, upper: 1), server("10.0.1.3", weight: 5),
        ])
        #expect(s.next() == "10.0.1.2")
        s.connectionBound(to: s.key("10.0.1.2"))  // overloaded
        #expect(s.next() == "10.0.1.3")              // tie at 5: .3 is first in the list
    }

    @Test("ovf: the highest weight whose active connections do not exceed it")
    func ovf() throws {
        var s = try make(.ovf, weights: [2, 3])  // list [.2 w3, .1 w2]
        s.setCounters(of: s.key("10.0.1.2"), active: 3, inactive: 0)  // 3 > 3 is false: still eligible
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.2"), active: 4, inactive: 0)
        #expect(s.next() == "10.0.1.1")
        s.setCounters(of: s.key("10.0.1.1"), active: 3, inactive: 0)
        #expect(s.next() == nil)
    }

    // MARK: - The kernel's scans, transcribed, as the oracle

    static func kernelScan(_ kind: SchedulerKind, _ list: DestinationList) -> Int? {
        var least: Int? = nil
        var loh: Int64 = 0
        switch kind {
        case .lc:
            for (i, d) in list.enumerated() where !(d.overloaded || d.weight == 0) {
                let doh = d.connectionOverhead
                if least == nil || doh < loh { least = i; loh = doh }
            }
        case .wlc, .sed:
            let overhead: (DestinationState) -> Int64 = kind == .wlc
                ? { $0.connectionOverhead } : { Int64($0.activeConnections) + 1 }
            guard let first = list.firstIndex(where: { !$0.overloaded && $0.weight > 0 }) else { return nil }
            least = first
            loh = overhead(list[first])
            for i in (first + 1)..<list.count where !list[i].overloaded {
                let doh = overhead(list[i])
                if loh * Int64(list[i].weight) > doh * Int64(list[least!].weight) { least = i; loh = doh }
            }
        case .nq:
            for (i, d) in list.enumerated() where !(d.overloaded || d.weight == 0) {
                let doh = Int64(d.activeConnections) + 1
                if d.activeConnections == 0 { return i }
                if least == nil || loh * Int64(d.weight) > doh * Int64(list[least!].weight) { least = i; loh = doh }
            }
        case .fo:
            var hw: Int32 = 0
            for (i, d) in list.enumerated() where !d.overloaded && d.weight > hw { least = i; hw = d.weight }
        case .ovf:
            var hw: Int32 = 0
            for (i, d) in list.enumerated() {
                if d.overloaded || d.activeConnections > d.weight || d.weight == 0 { continue }
                if least == nil || d.weight > hw { least = i; hw = d.weight }
            }
        default:
            fatalError("not a scan scheduler")
        }
        return least
    }

    @Test("Every pick equals the kernel's linear scan over random changes",
          arguments: [SchedulerKind.lc, .wlc, .sed, .nq, .fo, .ovf])
    func matchesKernelScan(kind: SchedulerKind) throws {
        var rng = SplitMix(seed: 0x5eed_0000 &+ UInt64(kind.rawValue.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        for n in [1, 2, 3, 7, 16, 33, 100] {
            var s = try ServiceScheduler(tcpService(kind), servers: (0..<n).map {
                server("10.1.\($0 / 250).\($0 % 250 + 1)", weight: Int32(rng.next(below: 6)))
            })
            for _ in 0..<600 {
                let i = rng.next(below: s.destinations.count)
                let k = s.destinations[i].key
                switch rng.next(below: 10) {
                case 0:
                    try s.editDestination(RealServer(k.address, port: k.port, forwarding: .masquerade,
                                                     weight: Int32(rng.next(below: 6))))
                case 1:
                    s.setCounters(of: k, active: s.destinations[i].activeConnections,
                                  inactive: s.destinations[i].inactiveConnections, overloaded: rng.next(below: 4) == 0)
                case 2 where s.destinations.count > 1:
                    try s.removeDestination(k)
                case 3:
                    try s.addDestination(server("10.2.\(rng.next(below: 200)).\(rng.next(below: 250) + 1)",
                                                weight: Int32(rng.next(below: 6))))
                default:
                    s.setCounters(of: k, active: Int32(rng.next(below: 8)), inactive: Int32(rng.next(below: 600)))
                }
                let expected = Self.kernelScan(kind, s.destinations)
                let got = s.schedule(flow("192.168.0.1"))
                #expect(got == expected, "\(kind) n=\(s.destinations.count)")
                if got != expected { return }
            }
        }
    }
}
