import IPVSCore
import Testing

/// Expected sequences are traced by hand through ip_vs_wrr.c `ip_vs_wrr_schedule` (see the comment on each).
@Suite("wrr scheduler (ip_vs_wrr.c)")
struct WeightedRoundRobinSchedulerTests {
    /// Weights A=4, B=3, C=2 in list order (added C, B, A, each add calling ip_vs_wrr_dest_changed).
    /// The service starts empty: init_svc gives di=1, mw=0, cw=0. Adding C (w2): di=2, mw=2-1=1, cw=0 → mw=1.
    /// Adding B (w3): di=1, mw=3, cw=1 kept. Adding A (w4): di=1, mw=4, cw=1 kept. So the first pass is cw=1:
    /// cw=1: A B C | cw=4: A | cw=3: A B | cw=2: A B C | cw=1: A …
    @Test("Weights 4, 3, 2 give the kernel's interleaved cycle, starting where the adds left cw")
    func interleavedCycle() throws {
        var s = try ServiceScheduler(tcpService(.wrr), servers: [
            server("10.0.1.3", weight: 2), server("10.0.1.2", weight: 3), server("10.0.1.1", weight: 4),
        ])
        let a = "10.0.1.1", b = "10.0.1.2", c = "10.0.1.3"
        #expect(s.picks(13) == [a, b, c, a, a, b, a, b, c, a, b, c, a])
    }

    /// Weights A=4, B=2 (added B, A). Adding B: di=2, mw=1, cw=1. Adding A: di=2, mw=4-1=3, cw=1 → (1/2)*2+1 = 1.
    /// cw=1: A B | cw=3: A | cw=1: A B | cw=3: A …
    @Test("A common divisor steps the current weight by the gcd")
    func gcdStepping() throws {
        var s = try ServiceScheduler(tcpService(.wrr), servers: [server("10.0.1.2", weight: 2), server("10.0.1.1", weight: 4)])
        #expect(s.picks(6) == ["10.0.1.1", "10.0.1.2", "10.0.1.1", "10.0.1.1", "10.0.1.2", "10.0.1.1"])
    }

    @Test("Over a full cycle each destination is picked weight/gcd times")
    func weightsRespected() throws {
        let weights: [Int32] = [5, 1, 3, 7, 2, 0, 4]
        var s = try ServiceScheduler(tcpService(.wrr), servers: weights.enumerated().map {
            server("10.0.2.\($0.offset + 1)", weight: $0.element)
        })
        let cycle = Int(weights.reduce(0, +))
        var counts: [String: Int] = [:]
        for p in s.picks(cycle * 3) { counts[p, default: 0] += 1 }
        for (i, w) in weights.enumerated() {
            #expect(counts["10.0.2.\(i + 1)", default: 0] == Int(w) * 3)
        }
    }

    /// Any change resets cl to the head and clamps cw (ip_vs_wrr_dest_changed). After A B C (cw=1, cl=C), a no-op
    /// edit of C resets cl: the walk restarts at the head with cw=1 (A, B). Without the reset it would wrap to
    /// cw=4 and give A, A.
    @Test("A destination change restarts the walk from the head")
    func changeResetsCursor() throws {
        var s = try ServiceScheduler(tcpService(.wrr), servers: [
            server("10.0.1.3", weight: 2), server("10.0.1.2", weight: 3), server("10.0.1.1", weight: 4),
        ])
        #expect(s.picks(3) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"])
        try s.editDestination(server("10.0.1.3", weight: 2))
        #expect(s.picks(2) == ["10.0.1.1", "10.0.1.2"])
    }

    /// After A B C A the state is cw=4, cl=A. Setting A to 1: di=1, mw=3, cw=4 > mw → cw=3, cl=head.
    /// cw=3: B | cw=2: B C | cw=1: A B C
    @Test("Lowering the maximum weight clamps the current weight")
    func clampCurrentWeight() throws {
        var s = try ServiceScheduler(tcpService(.wrr), servers: [
            server("10.0.1.3", weight: 2), server("10.0.1.2", weight: 3), server("10.0.1.1", weight: 4),
        ])
        #expect(s.picks(4) == ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.1"])
        try s.editDestination(server("10.0.1.1", weight: 1))
        #expect(s.picks(6) == ["10.0.1.2", "10.0.1.2", "10.0.1.3", "10.0.1.1", "10.0.1.2", "10.0.1.3"])
    }

    @Test("All destinations overloaded or quiesced: no pick")
    func noneAvailable() throws {
        var s = try ServiceScheduler(tcpService(.wrr), servers: [server("10.0.1.1", weight: 0), server("10.0.1.2", weight: 0)])
        #expect(s.next() == nil)
        var t = try ServiceScheduler(tcpService(.wrr), servers: [server("10.0.1.1", upper: 1), server("10.0.1.2", upper: 1)])
        t.connectionBound(to: t.key("10.0.1.1"))
        t.connectionBound(to: t.key("10.0.1.2"))
        #expect(t.next() == nil)
        #expect(t.next() == nil)
        t.connectionUnbound(from: t.key("10.0.1.1"), wasActive: false)
        #expect(t.next() == "10.0.1.1")
    }
}
