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

    @Test("lc: lowest (active << 8) + total, the first in list order on a tie")
    func lc() throws {
        var s = try make(.lc)
        #expect(s.next() == "10.0.1.3")  // all idle: the head
        s.setCounters(of: s.key("10.0.1.3"), active: 1, inactive: 0)  // 256 + 1
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
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 0)  // 771/3 = 257
        s.setCounters(of: s.key("10.0.1.2"), active: 2, inactive: 0)  // 514/2 = 257
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 0)  // 257/1 = 257
        #expect(s.next() == "10.0.1.3")  // three-way tie: first
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 1)  // 772/3 > 257
        #expect(s.next() == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 200)  // 200/1 < 257
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

    // MARK: - ip_vs_dest_conn_overhead as in Debian's 6.1.192: (activeconns << 8) + totalconns

    /// Binds `inactive + active` connections to `ip` and moves `active` of them to an established state, as the
    /// kernel's counters would see them (ip_vs_bind_dest, then set_tcp_state).
    static func load(_ s: inout ServiceScheduler, _ ip: String, active: Int, inactive: Int) {
        for _ in 0..<(active + inactive) { s.connectionBound(to: s.key(ip)) }
        for _ in 0..<active { s.connectionChangedActivity(on: s.key(ip), nowActive: true) }
    }

    @Test("lc: an active connection costs 257, not 256: 256 inactive beat 1 active (the old formula tied, head first)")
    func lcCountsActiveConnectionsInTotal() throws {
        var s = try make(.lc)  // [.3, .2, .1]
        Self.load(&s, "10.0.1.3", active: 1, inactive: 0)  // new 1 << 8 + 1 = 257; old 256
        Self.load(&s, "10.0.1.2", active: 0, inactive: 256)  // 256 under both
        Self.load(&s, "10.0.1.1", active: 0, inactive: 300)
        #expect(s.destinations[0].connectionOverhead == 257)
        #expect(s.destinations[1].connectionOverhead == 256)
        #expect(s.next() == "10.0.1.2")  // the old formula's tie would have kept .3, the head
        Self.load(&s, "10.0.1.2", active: 0, inactive: 1)  // 257: a tie again, the head wins
        #expect(s.next() == "10.0.1.3")
    }

    @Test("wlc: 2 active on weight 2 (514/2 = 257) lose to 256 inactive on weight 1 (the old formula tied at 256)")
    func wlcCountsActiveConnectionsInTotal() throws {
        var s = try make(.wlc, weights: [1, 1, 2])  // [.3 w2, .2 w1, .1 w1]
        Self.load(&s, "10.0.1.3", active: 2, inactive: 0)  // new 514/2; old 512/2
        Self.load(&s, "10.0.1.2", active: 0, inactive: 256)  // 256/1
        Self.load(&s, "10.0.1.1", active: 1, inactive: 0)  // new 257/1; old 256/1
        #expect(s.next() == "10.0.1.2")
        // Mixed: 3 active + 4 inactive on weight 2 → (3 << 8) + 7 = 775, against 387 inactive on weight 1.
        // The old formula gave 772, and 772 × 1 > 387 × 2 is false: it kept .2.
        var t = try make(.wlc, weights: [1, 2])  // [.2 w2, .1 w1]
        Self.load(&t, "10.0.1.2", active: 3, inactive: 4)
        Self.load(&t, "10.0.1.1", active: 0, inactive: 387)
        #expect(t.destinations[0].connectionOverhead == 775)
        #expect(t.next() == "10.0.1.1")  // 775 × 1 > 387 × 2 = 774
    }

    // MARK: - The kernel's scans, transcribed, as the oracle

    /// include/net/ip_vs.h `ip_vs_dest_conn_overhead` (6.1.192), written from the kernel's counters: the kernel
    /// stores `activeconns` and `totalconns` (every non-template connection), and adds `activeconns << 8` to
    /// `totalconns` in `int` arithmetic.
    static func kernelOverhead(_ d: DestinationState) -> Int32 {
        let activeconns = d.activeConnections
        let totalconns = d.activeConnections &+ d.inactiveConnections
        return (activeconns &<< 8) &+ totalconns
    }

    static func kernelScan(_ kind: SchedulerKind, _ list: DestinationList) -> Int? {
        var least: Int? = nil
        var loh: Int64 = 0
        switch kind {
        case .lc:
            // ip_vs_lc.c keeps `unsigned int loh, doh`: the int overhead compared as unsigned.
            var uloh: UInt32 = 0
            for (i, d) in list.enumerated() where !(d.overloaded || d.weight == 0) {
                let doh = UInt32(bitPattern: kernelOverhead(d))
                if least == nil || doh < uloh { least = i; uloh = doh }
            }
        case .wlc, .sed:
            let overhead: (DestinationState) -> Int64 = kind == .wlc
                ? { Int64(kernelOverhead($0)) } : { Int64($0.activeConnections) + 1 }
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
