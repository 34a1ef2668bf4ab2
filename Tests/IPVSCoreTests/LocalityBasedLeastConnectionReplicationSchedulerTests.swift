@testable import IPVSCore
import Testing

/// lblcr (net/netfilter/ipvs/ip_vs_lblcr.c). Expected picks and sets are derived by hand from `ip_vs_lblcr_schedule`,
/// `ip_vs_dest_set_min`, `ip_vs_dest_set_max`, `ip_vs_dest_set_insert` and `is_overloaded`; a literal transcription
/// of those functions (below) is also run against the scheduler over long random sequences.
@Suite("lblcr: locality-based least-connection with replication")
struct LocalityBasedLeastConnectionReplicationSchedulerTests {
    /// List [C .3, B .2, A .1] after adding A (.1), B (.2), C (.3).
    func make(weights: [Int32] = [1, 1, 1]) throws -> ServiceScheduler {
        try ServiceScheduler(tcpService(.lblcr), servers: weights.enumerated().map {
            server("10.0.1.\($0.offset + 1)", weight: $0.element)
        })
    }

    func to(_ address: String) -> Flow { flow("192.168.0.1", vip: address) }

    func lblcr(_ s: ServiceScheduler) -> LocalityBasedLeastConnectionReplicationScheduler {
        guard case .lblcr(let a) = s.scheduler else { preconditionFailure("not lblcr") }
        return a
    }

    /// The set cached for `address`, as server addresses head first.
    func members(_ s: ServiceScheduler, _ address: String = "10.0.0.1") -> [String] {
        lblcr(s).cachedSet(for: v4(address))?.members.map(\.address.description) ?? []
    }

    @Test("A new address gets a one-member set; a hit returns its least-loaded usable member")
    func newEntryAndHit() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1"), now: .seconds(1)) == "10.0.1.3")  // all idle: the head
        #expect(members(s) == ["10.0.1.3"])
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 50)
        #expect(s.next(to("10.0.0.1"), now: .seconds(2)) == "10.0.1.3")  // only member, usable
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(1))
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastUse == .seconds(2))
    }

    @Test("When the set's best member is_overloaded, the service's least-loaded server joins the set at its head")
    func replicationOnOverload() throws {
        var s = try make(weights: [4, 1, 2])  // [C .3 w2, B .2 w1, A .1 w4]
        #expect(s.next(to("10.0.0.1"), now: .seconds(1)) == "10.0.1.3")
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 0)  // 3 > 2
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 0)  // 2 < 4: someone is under half
        // set_min [C] = C, is_overloaded → whole list: C 771/2, B 0/1 = 0, A 257/4 → B, added at the head.
        #expect(s.next(to("10.0.0.1"), now: .seconds(2)) == "10.0.1.2")
        #expect(members(s) == ["10.0.1.2", "10.0.1.3"])
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(2))
        // set_min [B, C]: B (0) first; C: 0 × 2 > 771 × 1? no → B, not overloaded.
        #expect(s.next(to("10.0.0.1"), now: .seconds(3)) == "10.0.1.2")
        s.setCounters(of: s.key("10.0.1.2"), active: 2, inactive: 0)  // (2 << 8) + 2 = 514
        // set_min: B 514; C: 514 × 2 > 771 × 1 → C. C is_overloaded → list: C 771/2, B 514, A 257/4 → A joins.
        #expect(s.next(to("10.0.0.1"), now: .seconds(4)) == "10.0.1.1")
        #expect(members(s) == ["10.0.1.1", "10.0.1.2", "10.0.1.3"])
    }

    @Test("set_min skips members not in the list, flagged overloaded, or quiesced; ties stay with the earlier member")
    func setMinSkips() throws {
        var s = try make()
        _ = s.next(to("10.0.0.1"), now: .seconds(1))  // [C]
        s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 0)  // 2 > 1, and A/B are under half
        #expect(s.next(to("10.0.0.1"), now: .seconds(2)) == "10.0.1.2")  // C 514, B 0, A 0 → B joins
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 0)
        #expect(members(s) == ["10.0.1.2", "10.0.1.3"])
        #expect(s.next(to("10.0.0.1"), now: .seconds(3)) == "10.0.1.2")  // B and C tie: B, the head
        try s.removeDestination(s.key("10.0.1.2"))
        #expect(s.next(to("10.0.0.1"), now: .seconds(4)) == "10.0.1.3")  // B not AVAILABLE
        try s.addDestination(server("10.0.1.2"))
        #expect(s.next(to("10.0.0.1"), now: .seconds(5)) == "10.0.1.2")  // the same member, usable again
        s.setCounters(of: s.key("10.0.1.2"), active: 0, inactive: 0, overloaded: true)
        #expect(s.next(to("10.0.0.1"), now: .seconds(6)) == "10.0.1.3")
        s.setCounters(of: s.key("10.0.1.2"), active: 0, inactive: 0, overloaded: false)
        try s.editDestination(server("10.0.1.2", weight: 0))
        #expect(s.next(to("10.0.0.1"), now: .seconds(7)) == "10.0.1.3")
        #expect(members(s) == ["10.0.1.2", "10.0.1.3"])  // no member was added or erased
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(2))
    }

    @Test("Rescheduling to a server already in the set leaves the set and its lastmod alone")
    func insertExistingMember() throws {
        var s = try make(weights: [1, 4, 1])  // [C .3 w1, B .2 w4, A .1 w1]
        _ = s.next(to("10.0.0.1"), now: .seconds(1))  // all idle: C
        s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 0)  // 2 > 1
        s.setCounters(of: s.key("10.0.1.2"), active: 1, inactive: 0, overloaded: true)  // 2 < 4: under half
        s.setCounters(of: s.key("10.0.1.1"), active: 3, inactive: 0)  // 771
        // set_min [C] = C, is_overloaded (B is under half) → list: C 514, B flagged, A 771 → C, already a member.
        #expect(s.next(to("10.0.0.1"), now: .seconds(2)) == "10.0.1.3")
        #expect(members(s) == ["10.0.1.3"])
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(1))
    }

    @Test("A hit finds its members where the list moved them: servers added before them shift their indices")
    func hitAfterListShift() throws {
        var s = try make()  // [C .3, B .2, A .1]
        _ = s.next(to("10.0.0.1"), now: .seconds(1))  // [C]
        s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 0)
        #expect(s.next(to("10.0.0.1"), now: .seconds(2)) == "10.0.1.2")  // [B, C]
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 0)
        s.setCounters(of: s.key("10.0.1.2"), active: 0, inactive: 9)
        try s.addDestination(server("10.0.1.4"))  // [D, C, B, A]
        // set_min [B, C]: B 9; C: 9 × 1 > 0 × 1 → C, now at index 1.
        #expect(s.schedule(to("10.0.0.1"), now: .seconds(3)) == 1)
        #expect(s.schedule(to("10.0.0.1"), now: .seconds(4)) == 1)
        try s.removeDestination(s.key("10.0.1.4"))
        #expect(s.schedule(to("10.0.0.1"), now: .seconds(5)) == 0)
        #expect(members(s) == ["10.0.1.2", "10.0.1.3"])
        #expect(lblcr(s).cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(2))
    }

    // MARK: - The shrink (lblcr_expiration)

    static let idle = DestinationList(kernelOrder: [
        DestinationState(server("10.0.1.3")), DestinationState(server("10.0.1.2")),
        DestinationState(server("10.0.1.1")),
    ])
    /// C over its weight while A and B are idle (under half): C is_overloaded.
    static let headOverloaded = DestinationList(kernelOrder: [
        DestinationState(server("10.0.1.3"), activeConnections: 2), DestinationState(server("10.0.1.2")),
        DestinationState(server("10.0.1.1")),
    ])
    static let headBusy = DestinationList(kernelOrder: [
        DestinationState(server("10.0.1.3"), inactiveConnections: 5), DestinationState(server("10.0.1.2")),
        DestinationState(server("10.0.1.1")),
    ])

    /// A pick over `list` (the same servers in the same order, other counters), after telling the scheduler of the
    /// counters, as `ServiceScheduler` does.
    func pick(_ a: inout LocalityBasedLeastConnectionReplicationScheduler, _ list: DestinationList,
              at seconds: UInt64) -> String? {
        for i in list.indices { a.countersChanged(at: i, in: list) }
        return a.schedule(to("10.0.0.1"), in: list, now: .seconds(seconds)).map { list[$0].server.address.description }
    }

    /// A set [B, C] last modified at 1 s, with lblcr_expiration 10 s.
    func twoMemberSet() -> LocalityBasedLeastConnectionReplicationScheduler {
        var a = LocalityBasedLeastConnectionReplicationScheduler(
            destinations: Self.idle, flags: [], settings: LocalityCacheSettings(expirationSeconds: 10))
        _ = pick(&a, Self.idle, at: 0)  // [C]
        _ = pick(&a, Self.headOverloaded, at: 1)  // C is_overloaded: B (0, first of B/A) joins → [B, C]
        return a
    }

    @Test("A hit after lblcr_expiration without changes erases the most loaded member, after choosing the least")
    func shrinkErasesMax() {
        var a = twoMemberSet()
        #expect(a.cachedSet(for: v4("10.0.0.1"))?.members.map(\.address) == [v4("10.0.1.2"), v4("10.0.1.3")])
        #expect(pick(&a, Self.headBusy, at: 5) == "10.0.1.2")
        #expect(a.cachedSet(for: v4("10.0.0.1"))?.members.count == 2)  // hits do not touch lastmod
        var atLimit = a
        #expect(pick(&atLimit, Self.headBusy, at: 11) == "10.0.1.2")  // 11 > 1 + 10? no
        #expect(atLimit.cachedSet(for: v4("10.0.0.1"))?.members.count == 2)
        // At 12 s: set_min = B (0); set_max: B (0) first, C: 0 × 1 < 5 × 1 → C erased; lastmod = 12.
        #expect(pick(&a, Self.headBusy, at: 12) == "10.0.1.2")
        #expect(a.cachedSet(for: v4("10.0.0.1"))?.members.map(\.address) == [v4("10.0.1.2")])
        #expect(a.cachedSet(for: v4("10.0.0.1"))?.lastModified == .seconds(12))
    }

    @Test("On a tie set_min and set_max both take the head: the server returned is the one just erased")
    func shrinkErasesTheReturnedMember() {
        var a = twoMemberSet()
        // All idle at 12 s: set_min = B (ties stay), set_max = B (moh × w < doh × w is strict) → B erased, B returned.
        #expect(pick(&a, Self.idle, at: 12) == "10.0.1.2")
        #expect(a.cachedSet(for: v4("10.0.0.1"))?.members.map(\.address) == [v4("10.0.1.3")])
        #expect(pick(&a, Self.idle, at: 13) == "10.0.1.3")
    }

    @Test("A deleted member still counts in set_max, with its counters as its connections end")
    func deletedMemberCountsInSetMax() throws {
        func setUp() throws -> ServiceScheduler {
            var s = try make()
            _ = s.next(to("10.0.0.1"), now: .seconds(0))  // [C]
            s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 0)
            #expect(s.next(to("10.0.0.1"), now: .seconds(10)) == "10.0.1.2")  // [B, C], lastmod 10
            try s.removeDestination(s.key("10.0.1.3"))  // C goes to the trash with its 2 active connections
            #expect(s.next(to("10.0.0.1"), now: .seconds(50000)) == "10.0.1.2")  // keeps the entry in use
            return s
        }
        // Default lblcr_expiration (24 h): at 86411 s > 10 + 86400 the set shrinks.
        var s = try setUp()
        // set_max: B (0) first; C, deleted, weight 1, 514: 0 × 1 < 514 × 1 → C erased.
        #expect(s.next(to("10.0.0.1"), now: .seconds(86411)) == "10.0.1.2")
        #expect(members(s) == ["10.0.1.2"])

        var t = try setUp()
        t.connectionUnbound(from: t.key("10.0.1.3"), wasActive: true)
        t.connectionUnbound(from: t.key("10.0.1.3"), wasActive: true)  // C's connections ended: 0
        // set_max: B 0, C 0: tie, B stays → B erased (and returned, chosen before).
        #expect(t.next(to("10.0.0.1"), now: .seconds(86411)) == "10.0.1.2")
        #expect(members(t) == ["10.0.1.3"])
        // Now the set is [C], not AVAILABLE: set_min is NULL → list pick B, added back at the head.
        #expect(t.next(to("10.0.0.1"), now: .seconds(86412)) == "10.0.1.2")
        #expect(members(t) == ["10.0.1.2", "10.0.1.3"])
    }

    @Test("No usable server: nil, no entry; a set whose members are all unusable and an empty list give nil too")
    func noDestination() throws {
        var s = try make(weights: [0, 0])
        #expect(s.next(to("10.0.0.1")) == nil)
        #expect(lblcr(s).cacheCount == 0)
        var t = try make(weights: [1])
        #expect(t.next(to("10.0.0.1")) == "10.0.1.1")
        try t.editDestination(server("10.0.1.1", weight: 0))
        #expect(t.next(to("10.0.0.1")) == nil)
        #expect(members(t) == ["10.0.1.1"])
    }

    @Test("Entries expire like lblc's: at the half-hourly full check once unused for lblcr_expiration")
    func entryExpiry() {
        var a = LocalityBasedLeastConnectionReplicationScheduler(
            destinations: Self.idle, flags: [], settings: LocalityCacheSettings(expirationSeconds: 60))
        _ = pick(&a, Self.idle, at: 10)  // [C]
        var before = a
        #expect(pick(&before, Self.headBusy, at: 1799) == "10.0.1.3")
        var after = a
        #expect(pick(&after, Self.headBusy, at: 1800) == "10.0.1.2")  // entry gone: fresh set [B]
        #expect(after.cachedSet(for: v4("10.0.0.1"))?.members.map(\.address) == [v4("10.0.1.2")])
    }

    // MARK: - Against a literal transcription of the kernel

    @Test("Random edits, counters and packets: the same picks and sets as a transcription of ip_vs_lblcr.c")
    func matchesTranscription() throws {
        var rng = SplitMix(seed: 0x1b1c7)
        for _ in 0..<20 {
            // The list and trash are kept by a ServiceScheduler; the hooks are delivered to `a` by hand so that a
            // short lblcr_expiration can be used.
            var s = try ServiceScheduler(tcpService(.rr), servers: (1...5).map {
                server("10.0.1.\($0)", weight: Int32(rng.next() % 4))
            })
            var a = LocalityBasedLeastConnectionReplicationScheduler(
                destinations: s.destinations, flags: [], settings: LocalityCacheSettings(expirationSeconds: 20))
            var reference = KernelLblcrTranscription(expiration: 20)
            for step in 0..<400 {
                switch rng.next() % 10 {
                case 0:
                    let k = DestinationKey(address: IPAddress("10.0.1.\(1 + rng.next() % 6)")!, port: 80)
                    if let i = s.destinations.index(of: k) {
                        let removed = s.destinations[i]
                        try s.removeDestination(k)
                        a.destinationRemoved(removed, at: i, in: s.destinations)
                    } else {
                        try s.addDestination(server(k.address.description, weight: Int32(rng.next() % 4)))
                        a.destinationAdded(at: 0, in: s.destinations)
                    }
                case 1:
                    guard !s.destinations.isEmpty else { break }
                    let d = s.destinations[Int(rng.next() % UInt64(s.destinations.count))]
                    try s.editDestination(server(d.server.address.description, weight: Int32(rng.next() % 4)))
                    a.destinationUpdated(at: s.destinations.index(of: d.key)!, in: s.destinations)
                case 2, 3:
                    let k = DestinationKey(address: IPAddress("10.0.1.\(1 + rng.next() % 6)")!, port: 80)
                    s.setCounters(of: k, active: Int32(rng.next() % 6), inactive: Int32(rng.next() % 600),
                                  overloaded: rng.next() % 5 == 0)
                    if let i = s.destinations.index(of: k) { a.countersChanged(at: i, in: s.destinations) }
                    if let d = s.trash[k] { a.trashedCountersChanged(d) }
                default:
                    let f = to("10.0.0.\(1 + rng.next() % 4)")
                    let now = UInt64(step) * 1_000_000_000
                    let expected = reference.schedule(f.destinationAddress, s.destinations, s.trash, now: now)
                    let got = a.schedule(f, in: s.destinations, now: Timestamp(nanoseconds: now))
                    #expect(got.map { s.destinations[$0].key } == expected, "step \(step)")
                    let members = a.cachedSet(for: f.destinationAddress)?.members
                    #expect(members == reference.table[f.destinationAddress]?.elements, "step \(step)")
                }
            }
        }
    }
}

/// ip_vs_lblcr.c `ip_vs_lblcr_schedule`, `ip_vs_dest_set_min`, `ip_vs_dest_set_max`, `ip_vs_dest_set_insert`,
/// `ip_vs_dest_set_erase` and `ip_vs_lblcr_new`, transcribed loop by loop (no entry expiry: the runs stay under
/// 30 min). A member's struct is the list entry if present, else the trash entry (not AVAILABLE).
struct KernelLblcrTranscription {
    struct DestSet {
        var elements: [DestinationKey]
        var lastmod: UInt64
    }
    var table: [IPAddress: DestSet] = [:]
    let expiration: UInt64

    init(expiration seconds: UInt64) { expiration = seconds * 1_000_000_000 }

    func dest(_ k: DestinationKey, _ list: DestinationList, _ trash: [DestinationKey: DestinationState])
        -> (d: DestinationState, available: Bool)
    {
        if let i = list.index(of: k) { return (list[i], true) }
        return (trash[k]!, false)
    }

    func setMin(_ set: DestSet, _ list: DestinationList, _ trash: [DestinationKey: DestinationState])
        -> DestinationKey?
    {
        var least: DestinationKey? = nil
        var loh: Int64 = 0
        var next = set.elements.count
        for (n, e) in set.elements.enumerated() {
            let (d, available) = dest(e, list, trash)
            if d.overloaded { continue }
            if d.weight > 0 && available {
                least = e
                loh = KernelLblcTranscription.overhead(d)
                next = n + 1
                break
            }
        }
        guard var l = least else { return nil }
        for e in set.elements[next...] {
            let (d, available) = dest(e, list, trash)
            if d.overloaded { continue }
            let doh = KernelLblcTranscription.overhead(d)
            if loh * Int64(d.weight) > doh * Int64(dest(l, list, trash).d.weight) && available {
                l = e
                loh = doh
            }
        }
        return l
    }

    func setMax(_ set: DestSet, _ list: DestinationList, _ trash: [DestinationKey: DestinationState])
        -> DestinationKey?
    {
        var most: DestinationKey? = nil
        var moh: Int64 = 0
        var next = set.elements.count
        for (n, e) in set.elements.enumerated() where dest(e, list, trash).d.weight > 0 {
            most = e
            moh = KernelLblcTranscription.overhead(dest(e, list, trash).d)
            next = n + 1
            break
        }
        guard var m = most else { return nil }
        for e in set.elements[next...] {
            let d = dest(e, list, trash).d
            let doh = KernelLblcTranscription.overhead(d)
            if moh * Int64(d.weight) < doh * Int64(dest(m, list, trash).d.weight) && d.weight > 0 {
                m = e
                moh = doh
            }
        }
        return m
    }

    mutating func schedule(_ daddr: IPAddress, _ list: DestinationList, _ trash: [DestinationKey: DestinationState],
                           now: UInt64) -> DestinationKey? {
        if var en = table[daddr] {
            var result = setMin(en, list, trash)
            if en.elements.count > 1 && now > en.lastmod + expiration {
                if let m = setMax(en, list, trash) {
                    en.elements.remove(at: en.elements.firstIndex(of: m)!)
                    en.lastmod = now
                }
            }
            table[daddr] = en
            if let r = result, !KernelLblcTranscription.isOverloaded(list[list.index(of: r)!], list) { return r }
            guard let i = KernelLblcTranscription.weightedLeastConnection(list) else { return nil }
            result = list[i].key
            if !en.elements.contains(result!) {
                en.elements.insert(result!, at: 0)
                en.lastmod = now
            }
            table[daddr] = en
            return result
        }
        guard let i = KernelLblcTranscription.weightedLeastConnection(list) else { return nil }
        table[daddr] = DestSet(elements: [list[i].key], lastmod: now)
        return list[i].key
    }
}
