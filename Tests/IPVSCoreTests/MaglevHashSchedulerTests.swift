import IPVSCore
import Testing

/// How the expected values were derived (never from our own output):
///
/// - By hand from ip_vs_mh.c's population rule: every pass over the list gives each destination `turns` slots in a
///   row and every turn claims exactly one free slot, so slot *counts* depend only on turns and list order, not on
///   the hash. turns = (last_weight / gcd) >> rshift (or 1 if that is 0 and last_weight is not), rshift =
///   max(0, fls(max last_weight / gcd) − 6). E.g. weights [1, 2, 3]: 6 slots a pass, 4093 = 682·6 + 1, so
///   682 + 1 = 683, 1364, 2046.
/// - Slot positions, permutations and picks come from a throwaway C program (in /tmp, not committed) written from
///   the algorithm's description: SipHash-1-3 from the SipHash paper (checked against the paper's SipHash-2-4
///   vector, see KernelSipHashTests), keys 2654435761 / 2654446892, offset = hsiphash(port + addr, hash1) % 4093,
///   skip = hsiphash(port + addr, hash2) % 4092 + 1, passes over the list claiming the next free slot of each
///   permutation, lookup slot = hsiphash(port + addr, hash1) % 4093, fallback rehashing with (k + slot) % 4093.
/// - List order: the kernel adds at the head, so servers added .1, .2, .3 are listed [.3, .2, .1].
@Suite("mh scheduler (ip_vs_mh.c)")
struct MaglevHashSchedulerTests {
    private static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    private static func real(_ a: String, weight: Int32 = 1, port: UInt16 = 80) -> RealServer {
        RealServer(ip(a), port: port, forwarding: .masquerade, weight: weight)
    }

    private static func key(_ a: String, port: UInt16 = 80) -> DestinationKey {
        DestinationKey(address: ip(a), port: port)
    }

    private static func service(_ servers: [RealServer], flags: ServiceFlags = []) -> ServiceScheduler {
        try! ServiceScheduler(VirtualService(.address(.tcp, ip("10.0.0.100"), port: 80), scheduler: .mh, flags: flags),
                              servers: servers)
    }

    /// Servers 10.0.1.1, .2, .3 (port 80, weight 1) added in that order: list [.3, .2, .1].
    private static func threeServers(flags: ServiceFlags = []) -> ServiceScheduler {
        service(["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { real($0) }, flags: flags)
    }

    private static func pick(_ s: inout ServiceScheduler, from client: String, port: UInt16 = 40000) -> String? {
        s.schedule(Flow(.tcp, from: ip(client), port: port, to: ip("10.0.0.100"), port: 80))
            .map { s.destinations[$0].server.address.description }
    }

    private static func mh(_ s: ServiceScheduler) -> MaglevHashScheduler {
        guard case .mh(let m) = s.scheduler else { preconditionFailure("not an mh service") }
        return m
    }

    /// Slots per list index.
    private static func slotCounts(_ s: ServiceScheduler) -> [Int] {
        var counts = [Int](repeating: 0, count: s.destinations.count)
        for case let i? in mh(s).slotTable { counts[i] += 1 }
        return counts
    }

    /// The destination address in each slot.
    private static func owners(_ s: ServiceScheduler) -> [String?] {
        mh(s).slotTable.map { $0.map { s.destinations[$0].server.address.description } }
    }

    // MARK: - Hashing

    @Test("Destination permutations: offset and skip from hsiphash of port + address (C reference)", arguments: [
        ("10.0.1.3", 9, 209), ("10.0.1.2", 1584, 2508), ("10.0.1.1", 1011, 1586),
    ])
    func permutations(address: String, offset: Int, skip: Int) {
        let p = MaglevHashScheduler.permutation(of: Self.key(address))
        #expect(p.offset == offset)
        #expect(p.skip == skip)
    }

    @Test("A client's slot is hsiphash(port + address, hash1) % 4093 (C reference)", arguments: [
        ("192.168.0.1", 0 as UInt16, 1278), ("192.168.0.2", 0, 1806), ("192.168.0.4", 0, 2261),
        ("192.168.0.12", 0, 962), ("192.168.0.1", 40000, 3559), ("192.168.0.1", 40005, 1853),
        // 0x0308_0CE4 % 4093 and 0x41CF_DE13 % 4093, from the hsiphash vectors of KernelSipHashTests.
        ("10.0.0.1", 0, 3711), ("10.0.0.2", 0, 1884),
        // IPv6 folds to the XOR of its four words: these two fold to 0xC0A80001, as 192.168.0.1 does.
        ("::192.168.0.1", 0, 1278), ("2001:db8::2001:db8:c0a8:1", 0, 1278),
    ])
    func clientSlots(address: String, port: UInt16, slot: Int) {
        #expect(MaglevHashScheduler.slot(for: Self.ip(address), port: port) == slot)
    }

    // MARK: - Table population

    @Test("Three equal servers: 1365/1364/1364 slots, the head first, and the C reference's slot layout")
    func equalWeightsLayout() {
        let s = Self.threeServers()
        // 4093 = 1364·3 + 1: the head (.3) gets the extra slot.
        #expect(Self.slotCounts(s) == [1365, 1364, 1364])
        let first20: [Int?] = [0, 1, 0, 1, 2, 0, 1, 0, 0, 0, 2, 2, 2, 1, 1, 1, 2, 1, 2, 2]
        #expect(Array(Self.mh(s).slotTable.prefix(20)) == first20)
    }

    @Test("Slot counts follow the weights (by hand from the pass structure)", arguments: [
        // weights in list order (head first) → slots
        ([1, 2, 3] as [Int32], [683, 1364, 2046]),
        // gcd 2, turns 2 and 3: 4093 = 818·5 + 3 → 818·2 + 2, 818·3 + 1.
        ([4, 6], [1638, 2455]),
        // rshift = fls(100) − 6 = 1: turns 50 and (1 >> 1 = 0 → 1); 4093 = 80·51 + 13 → 80·50 + 13, 80.
        ([100, 1], [4013, 80]),
        // rshift = fls(65535) − 6 = 10: turns 63 and 1; 4093 = 63·64 + 61 → 63·63 + 61, 63.
        ([65535, 1], [4030, 63]),
        // turns = weights, 55 a pass: 4093 = 74·55 + 23; the last partial pass gives 1+2+3+4+5+6 = 21, then 2.
        (Array(1...10), [75, 150, 225, 300, 375, 450, 520, 592, 666, 740]),
    ])
    func slotCountsFollowWeights(weights: [Int32], expected: [Int]) {
        let list = DestinationList(kernelOrder: weights.enumerated().map { i, w in
            DestinationState(Self.real("10.0.2.\(i + 1)", weight: w))
        })
        let mh = MaglevHashScheduler(destinations: list, flags: [])
        var counts = [Int](repeating: 0, count: weights.count)
        for case let i? in mh.slotTable { counts[i] += 1 }
        #expect(counts == expected)
    }

    @Test("gcd and shift are computed from last_weight as the kernel does")
    func gcdAndShift() {
        func state(_ weights: [Int32]) -> MaglevHashScheduler {
            MaglevHashScheduler(destinations: DestinationList(kernelOrder: weights.enumerated().map { i, w in
                DestinationState(Self.real("10.0.2.\(i + 1)", weight: w))
            }), flags: [])
        }
        #expect(state([4, 6]).gcd == 2 && state([4, 6]).rshift == 0)
        #expect(state([100, 1]).gcd == 1 && state([100, 1]).rshift == 1)
        #expect(state([64, 128]).gcd == 64 && state([64, 128]).rshift == 0)  // 128 / 64 = 2
        #expect(state([0, 0]).gcd == 0 && state([]).gcd == 0)
    }

    // MARK: - Picks

    @Test("Picks for a run of clients match the C reference, in kernel list order")
    func picks() {
        var s = Self.threeServers()
        // list index → address: 0 → .3, 1 → .2, 2 → .1
        let expected = [".3", ".2", ".3", ".1", ".1", ".1", ".3", ".1", ".1", ".3", ".2", ".2"]
        for (c, e) in expected.enumerated() {
            #expect(Self.pick(&s, from: "192.168.0.\(c + 1)") == "10.0.1" + e, "client 192.168.0.\(c + 1)")
        }
        // Without mh-port the source port plays no part.
        for port: UInt16 in [1, 40001, 65535] { #expect(Self.pick(&s, from: "192.168.0.1", port: port) == "10.0.1.3") }
    }

    @Test("mh-port (scheduler flag 2) adds the source port to the address before hashing")
    func mhPort() {
        var s = Self.threeServers(flags: .mhPort)
        // 192.168.0.1:40000…40005 → slots 3559, 2020, 671, 3796, 3598, 1853 → list indices 2, 2, 2, 2, 1, 0.
        let expected = [".1", ".1", ".1", ".1", ".2", ".3"]
        for (k, e) in expected.enumerated() {
            #expect(Self.pick(&s, from: "192.168.0.1", port: UInt16(40000 + k)) == "10.0.1" + e)
        }
    }

    @Test("An overloaded destination fails the pick without mh-fallback; with it the kernel's rehash walk")
    func fallback() {
        var plain = Self.threeServers()
        var fallback = Self.threeServers(flags: .mhFallback)
        plain.setCounters(of: Self.key("10.0.1.3"), active: 0, inactive: 0, overloaded: true)
        fallback.setCounters(of: Self.key("10.0.1.3"), active: 0, inactive: 0, overloaded: true)
        // C reference with .3 (list index 0) overloaded: (without fallback, with fallback) per client.
        let withIndex0Down: [(String?, String?)] = [
            (nil, ".2"), (".2", ".2"), (nil, ".1"), (".1", ".1"), (".1", ".1"), (".1", ".1"),
            (nil, ".2"), (".1", ".1"), (".1", ".1"), (nil, ".2"), (".2", ".2"), (".2", ".2"),
        ]
        for (c, e) in withIndex0Down.enumerated() {
            let client = "192.168.0.\(c + 1)"
            #expect(Self.pick(&plain, from: client) == e.0.map { "10.0.1" + $0 }, "\(client) without fallback")
            #expect(Self.pick(&fallback, from: client) == e.1.map { "10.0.1" + $0 }, "\(client) with fallback")
        }
        // .2 overloaded too: every client falls back to .1.
        fallback.setCounters(of: Self.key("10.0.1.2"), active: 0, inactive: 0, overloaded: true)
        for c in 1...12 { #expect(Self.pick(&fallback, from: "192.168.0.\(c)") == "10.0.1.1") }
        // All three unavailable: the walk finds nothing.
        fallback.setCounters(of: Self.key("10.0.1.1"), active: 0, inactive: 0, overloaded: true)
        #expect(Self.pick(&fallback, from: "192.168.0.1") == nil)
    }

    @Test("A server added with weight 0 gets no slot; one quiesced to 0 keeps its slots but is skipped")
    func zeroWeights() throws {
        // Add .3 (w2), .2 (w2); quiesce .2 (last_weight stays 2); add .1 with weight 0 (last_weight 0).
        var s = Self.service([Self.real("10.0.4.3", weight: 2), Self.real("10.0.4.2", weight: 2)])
        try s.editDestination(Self.real("10.0.4.2", weight: 0))
        try s.addDestination(Self.real("10.0.4.1", weight: 0))
        // List [.1 (w0, last 0), .2 (w0, last 2), .3 (w2, last 2)]: gcd 2, turns 0, 1, 1 → 0, 2047, 2046.
        #expect(Self.slotCounts(s) == [0, 2047, 2046])
        // C reference: clients 1…8 without fallback .3, .3, -, -, .3, -, .3, - (the dashes hit .2).
        let expected: [String?] = [".3", ".3", nil, nil, ".3", nil, ".3", nil]
        for (c, e) in expected.enumerated() {
            #expect(Self.pick(&s, from: "192.168.0.\(c + 1)") == e.map { "10.0.4" + $0 })
        }
        // With mh-fallback every one of them reaches .3.
        try s.editService(VirtualService(.address(.tcp, Self.ip("10.0.0.100"), port: 80), scheduler: .mh,
                                         flags: .mhFallback))
        for c in 1...8 { #expect(Self.pick(&s, from: "192.168.0.\(c)") == "10.0.4.3") }
    }

    @Test("Quiescing a destination leaves the table as it was")
    func quiescingKeepsTable() throws {
        var s = Self.threeServers()
        let before = Self.owners(s)
        try s.editDestination(Self.real("10.0.1.2", weight: 0))
        #expect(Self.owners(s) == before)
        // Clients 2, 11, 12 hash to .2: now no destination.
        for c in [2, 11, 12] { #expect(Self.pick(&s, from: "192.168.0.\(c)") == nil) }
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.3")
        // Weight back: same table, same picks.
        try s.editDestination(Self.real("10.0.1.2", weight: 1))
        #expect(Self.owners(s) == before)
        #expect(Self.pick(&s, from: "192.168.0.2") == "10.0.1.2")
    }

    // MARK: - Changes

    @Test("Removing a destination moves its slots and, as Maglev does, only a few others (C reference: 8)")
    func removalDisruption() throws {
        var s = Self.threeServers()
        let before = Self.owners(s)
        try s.removeDestination(Self.key("10.0.1.2"))
        let after = Self.owners(s)
        #expect(Self.slotCounts(s) == [2047, 2046])
        var movedFromRemoved = 0
        var movedOther = 0
        for (b, a) in zip(before, after) {
            if b == "10.0.1.2" {
                movedFromRemoved += 1
                #expect(a == "10.0.1.1" || a == "10.0.1.3")
            } else if b != a {
                movedOther += 1
            }
        }
        #expect(movedFromRemoved == 1364)
        // Maglev's disruption is near-minimal, not minimal: 8 of the 2729 other slots change hands.
        #expect(movedOther == 8)
    }

    @Test("Adding a destination at the head: it takes its share, a few other slots move (C reference: 19)")
    func additionDisruption() throws {
        var s = Self.threeServers()
        let before = Self.owners(s)
        try s.addDestination(Self.real("10.0.1.4"))
        #expect(s.destinations[0].server.address.description == "10.0.1.4")
        #expect(Self.slotCounts(s) == [1024, 1023, 1023, 1023])
        let after = Self.owners(s)
        #expect(after.filter { $0 == "10.0.1.4" }.count == 1024)
        #expect(zip(before, after).filter { $1 != "10.0.1.4" && $0 != $1 }.count == 19)
        // C reference picks for clients 1…12 over [.4, .3, .2, .1]: only 7 and 10 move, both to the new server.
        let expected = [".3", ".2", ".3", ".1", ".1", ".1", ".4", ".1", ".1", ".4", ".2", ".2"]
        for (c, e) in expected.enumerated() { #expect(Self.pick(&s, from: "192.168.0.\(c + 1)") == "10.0.1" + e) }
    }

    @Test("No destinations, or none with a positive last_weight: an empty table and no pick")
    func emptyTables() throws {
        var s = Self.service([])
        #expect(Self.mh(s).slotTable.allSatisfy { $0 == nil })
        #expect(Self.pick(&s, from: "192.168.0.1") == nil)
        try s.addDestination(Self.real("10.0.1.1", weight: 0))
        #expect(Self.mh(s).slotTable.allSatisfy { $0 == nil })
        try s.editService(VirtualService(.address(.tcp, Self.ip("10.0.0.100"), port: 80), scheduler: .mh,
                                         flags: .mhFallback))
        #expect(Self.pick(&s, from: "192.168.0.1") == nil)
    }

    @Test("IPv6 servers and clients (C reference)")
    func ipv6() {
        var s = try! ServiceScheduler(
            VirtualService(.address(.tcp, Self.ip("2001:db8::100"), port: 443), scheduler: .mh),
            servers: ["2001:db8::1", "2001:db8::2", "2001:db8::3"].map { Self.real($0, port: 443) })
        #expect(Self.slotCounts(s) == [1365, 1364, 1364])
        // Clients 2001:db8::101…106 (folds 0x20010CB9…0x20010CBE) → list indices 1, 1, 0, 1, 2, 1.
        let expected = ["::2", "::2", "::3", "::2", "::1", "::2"]
        for (c, e) in expected.enumerated() {
            let client = Self.ip("2001:db8::10\(c + 1)")
            let chosen = s.schedule(Flow(.tcp, from: client, port: 1, to: Self.ip("2001:db8::100"), port: 443))
            #expect(chosen.map { s.destinations[$0].server.address.description } == "2001:db8" + e)
        }
    }

    @Test("The same client keeps its destination, and the table is the same however the list was built")
    func stability() throws {
        var incremental = Self.threeServers()
        let direct = MaglevHashScheduler(destinations: incremental.destinations, flags: [])
        #expect(direct.slotTable == Self.mh(incremental).slotTable)
        for c in 1...40 {
            let first = Self.pick(&incremental, from: "172.16.0.\(c)")
            #expect(first != nil)
            for _ in 0..<3 { #expect(Self.pick(&incremental, from: "172.16.0.\(c)") == first) }
        }
    }

    @Test("With more than 4093 destinations the kernel keeps its old table; indices follow the list")
    func tooManyDestinations() {
        let full = (0..<4093).map { i in DestinationState(Self.real("10.2.\(i / 256).\(i % 256)")) }
        let list = DestinationList(kernelOrder: full)
        var mh = MaglevHashScheduler(destinations: list, flags: [])
        let before = mh.slotTable
        // 4093 equal servers: one slot each.
        #expect(Set(before.compactMap { $0 }).count == 4093)
        let longer = DestinationList(kernelOrder: [DestinationState(Self.real("10.3.0.1"))] + full)
        mh.destinationAdded(at: 0, in: longer)
        #expect(mh.slotTable == before.map { $0.map { $0 + 1 } })
    }
}
