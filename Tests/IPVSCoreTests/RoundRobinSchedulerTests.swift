import IPVSCore
import Testing

/// Expected sequences are derived by hand from ip_vs_rr.c: the kernel adds destinations at the list head, so
/// adding A, B, C gives the list [C, B, A]; the cursor starts at the head and each pick takes the next
/// schedulable destination after it, wrapping once.
@Suite("rr scheduler (ip_vs_rr.c)")
struct RoundRobinSchedulerTests {
    @Test("Picks walk the list in kernel order: the last added first")
    func kernelListOrder() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")])
        #expect(s.picks(7) == ["10.0.1.3", "10.0.1.2", "10.0.1.1", "10.0.1.3", "10.0.1.2", "10.0.1.1", "10.0.1.3"])
    }

    @Test("Weight 0 and overloaded destinations are skipped")
    func skipsUnschedulable() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2", weight: 0),
                                                                server("10.0.1.3", upper: 1)])
        // list [.3 (u=1), .2 (w=0), .1]
        #expect(s.next() == "10.0.1.3")
        s.connectionBound(to: s.key("10.0.1.3"))  // reaches its upper threshold: overloaded
        #expect(s.picks(3) == ["10.0.1.1", "10.0.1.1", "10.0.1.1"])
        s.connectionUnbound(from: s.key("10.0.1.3"), wasActive: false)
        #expect(s.next() == "10.0.1.3")
    }

    @Test("Deleting the destination under the cursor moves the cursor to its predecessor")
    func deleteUnderCursor() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")])
        #expect(s.picks(2) == ["10.0.1.3", "10.0.1.2"])  // cursor on .2 (index 1)
        try s.removeDestination(s.key("10.0.1.2"))       // cursor -> .3; list [.3, .1]
        #expect(s.picks(3) == ["10.0.1.1", "10.0.1.3", "10.0.1.1"])
    }

    @Test("Deleting the head destination under the cursor moves the cursor to the list head")
    func deleteFirstUnderCursor() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")])
        #expect(s.next() == "10.0.1.3")                  // cursor on .3 (index 0)
        try s.removeDestination(s.key("10.0.1.3"))       // cursor -> head; list [.2, .1]
        #expect(s.picks(2) == ["10.0.1.2", "10.0.1.1"])
    }

    @Test("Deleting another destination keeps the cursor on the same destination")
    func deleteElsewhere() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")])
        #expect(s.picks(2) == ["10.0.1.3", "10.0.1.2"])
        try s.removeDestination(s.key("10.0.1.3"))       // list [.2, .1], cursor still on .2
        #expect(s.picks(2) == ["10.0.1.1", "10.0.1.2"])
    }

    @Test("A destination added at the head is reached after the walk wraps")
    func addDuringWalk() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2")])
        #expect(s.picks(2) == ["10.0.1.2", "10.0.1.1"])  // cursor on .1, the list tail
        try s.addDestination(server("10.0.1.9"))          // list [.9, .2, .1]
        #expect(s.picks(3) == ["10.0.1.9", "10.0.1.2", "10.0.1.1"])
    }

    @Test("A service with no schedulable destination picks none and keeps its cursor")
    func noneAvailable() throws {
        var s = try ServiceScheduler(tcpService(.rr), servers: [server("10.0.1.1"), server("10.0.1.2")])
        #expect(s.next() == "10.0.1.2")
        try s.editDestination(server("10.0.1.1", weight: 0))
        try s.editDestination(server("10.0.1.2", weight: 0))
        #expect(s.next() == nil)
        try s.editDestination(server("10.0.1.1", weight: 1))
        try s.editDestination(server("10.0.1.2", weight: 1))
        #expect(s.next() == "10.0.1.1")  // the cursor stayed on .2
        var empty = try ServiceScheduler(tcpService(.rr))
        #expect(empty.next() == nil)
    }
}
