@testable import IPVSCore
import Testing

/// lblc (net/netfilter/ipvs/ip_vs_lblc.c). Expected picks are derived by hand from `ip_vs_lblc_schedule`,
/// `__ip_vs_lblc_schedule` and `is_overloaded`, and the expiry from `ip_vs_lblc_check_expire`; a literal transcription
/// of the kernel's loops (below) is also run against the scheduler over long random sequences.
@Suite("lblc: locality-based least-connection")
struct LocalityBasedLeastConnectionSchedulerTests {
    /// List [C .3, B .2, A .1] after adding A (.1), B (.2), C (.3).
    func make(weights: [Int32] = [1, 1, 1]) throws -> ServiceScheduler {
        try ServiceScheduler(tcpService(.lblc), servers: weights.enumerated().map {
            server("10.0.1.\($0.offset + 1)", weight: $0.element)
        })
    }

    /// A packet to `address` (the key lblc caches by).
    func to(_ address: String) -> Flow { flow("192.168.0.1", vip: address) }

    func lblc(_ s: ServiceScheduler) -> LocalityBasedLeastConnectionScheduler {
        guard case .lblc(let a) = s.scheduler else { preconditionFailure("not lblc") }
        return a
    }

    @Test("A new destination address gets the weighted least-connection server and keeps it while it is usable")
    func cachesPerDestinationAddress() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")  // empty cache; all idle: the head, ties stay
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 50)
        // Cached .3: in the list, weight 1, 0 active ≤ weight → not is_overloaded: kept though it is the busiest.
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        // Another address: fresh pick. .3 = 50/1; .2 = 0/1 is lower; .1 = 0/1 ties with .2, which comes first.
        #expect(s.next(to("10.0.0.2")) == "10.0.1.2")
        #expect(lblc(s).cachedDestination(for: v4("10.0.0.1"))?.destination == s.key("10.0.1.3"))
        #expect(lblc(s).cachedDestination(for: v4("10.0.0.2"))?.destination == s.key("10.0.1.2"))
        #expect(lblc(s).cacheCount == 2)
    }

    @Test("A quiesced cached server is replaced; the kernel's entry count drifts up by one per replacement")
    func quiescedIsReplaced() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        try s.editDestination(server("10.0.1.3", weight: 0))
        // Cached .3 has weight 0 → reschedule: .3 skipped in the first stage, .2 first, .1 ties → .2.
        #expect(s.next(to("10.0.0.1")) == "10.0.1.2")
        #expect(lblc(s).cachedDestination(for: v4("10.0.0.1"))?.destination == s.key("10.0.1.2"))
        // ip_vs_lblc_new unlinks the old entry without atomic_dec and hashes the new one with atomic_inc.
        #expect(lblc(s).cacheCount == 1)
        #expect(lblc(s).kernelEntryCount == 2)
        try s.editDestination(server("10.0.1.3", weight: 1))
        #expect(s.next(to("10.0.0.1")) == "10.0.1.2")  // the entry now names .2, which is usable
    }

    @Test("is_overloaded: more active than weight only matters while some server is under half its weight")
    func lblcIsOverloaded() throws {
        var s = try make(weights: [4, 1, 2])  // [C .3 w2, B .2 w1, A .1 w4]
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        s.setCounters(of: s.key("10.0.1.3"), active: 3, inactive: 0)  // 3 > 2
        s.setCounters(of: s.key("10.0.1.2"), active: 1, inactive: 0)  // 2 < 1? no
        s.setCounters(of: s.key("10.0.1.1"), active: 2, inactive: 0)  // 4 < 4? no
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")  // nobody is under half: kept
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 0)  // 2 < 4: .1 is under half
        // Reschedule: .3 = 768/2 = 384, .2 = 256/1, .1 = 256/4 = 64 → .1.
        #expect(s.next(to("10.0.0.1")) == "10.0.1.1")
    }

    @Test("The overload flag is not consulted for the cached server, only by the fresh pick")
    func overloadFlagIgnoredOnHit() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 0, overloaded: true)
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        #expect(s.next(to("10.0.0.2")) == "10.0.1.2")  // fresh pick skips the flagged head
    }

    @Test("A deleted cached server re-added before its address returns is used again; otherwise it was replaced")
    func removedAndReAdded() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        try s.removeDestination(s.key("10.0.1.3"))
        #expect(s.next(to("10.0.0.2")) == "10.0.1.2")  // [B, A]
        try s.addDestination(server("10.0.1.3"))  // same dest struct back from the trash, AVAILABLE again
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")

        var t = try make()
        #expect(t.next(to("10.0.0.1")) == "10.0.1.3")
        try t.removeDestination(t.key("10.0.1.3"))
        #expect(t.next(to("10.0.0.1")) == "10.0.1.2")  // not AVAILABLE: rescheduled, entry replaced
        try t.addDestination(server("10.0.1.3"))
        #expect(t.next(to("10.0.0.1")) == "10.0.1.2")
    }

    @Test("Weighted least connection compares by cross-multiplication; ties go to the earlier server")
    func crossMultiplicationTies() throws {
        var s = try make(weights: [3, 1, 2])  // [C .3 w2, B .2 w1, A .1 w3]
        s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 0)  // 514/2 = 257
        s.setCounters(of: s.key("10.0.1.2"), active: 1, inactive: 0)  // 257/1 = 257
        s.setCounters(of: s.key("10.0.1.1"), active: 3, inactive: 0)  // 771/3 = 257
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")  // three-way tie: the first
        s.setCounters(of: s.key("10.0.1.3"), active: 2, inactive: 1)  // 515/2 > 257
        #expect(s.next(to("10.0.0.2")) == "10.0.1.2")  // .2 and .1 tie: .2 first
        s.setCounters(of: s.key("10.0.1.1"), active: 3, inactive: 0)
        s.setCounters(of: s.key("10.0.1.2"), active: 1, inactive: 1)  // 258 > 257
        #expect(s.next(to("10.0.0.3")) == "10.0.1.1")
    }

    @Test("The overhead is the kernel's 32-bit int: (active << 8) + total wraps to the lowest load past 2^31 - 1")
    func overheadWrapsAt32Bits() throws {
        var s = try make(weights: [1, 1])  // [B .2, A .1]
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 0)  // 257
        // 8_355_967 × 257 = 2^31 - 129, so 128 inactive more make exactly Int32.max.
        s.setCounters(of: s.key("10.0.1.2"), active: 8_355_967, inactive: 128)
        #expect(s.next(to("10.0.0.1")) == "10.0.1.1")
        s.setCounters(of: s.key("10.0.1.2"), active: 8_355_967, inactive: 129)  // 2^31 wraps to -2^31
        #expect(s.next(to("10.0.0.2")) == "10.0.1.2")
        // The old `(active << 8) + inactive` gave 2_139_127_681 for these counters: no wrap, and .1 again.
    }

    @Test("A new address goes to 256 inactive on weight 1 rather than 2 active on weight 2: 514/2 > 256/1")
    func overheadCountsActiveConnectionsInTotal() throws {
        var s = try make(weights: [1, 2])  // [B .2 w2, A .1 w1]
        s.setCounters(of: s.key("10.0.1.2"), active: 2, inactive: 0)  // (2 << 8) + 2 = 514; the old formula: 512
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 256)  // 256
        // Second stage: loh × w(A) = 514 × 1 > doh × w(B) = 256 × 2 = 512 → A. (Old: 512 > 512 is false → B.)
        #expect(s.next(to("10.0.0.1")) == "10.0.1.1")
    }

    @Test("The second stage does not skip weight 0: a quiesced server whose overhead wrapped negative wins")
    func weightZeroQuirk() throws {
        var s = try ServiceScheduler(tcpService(.lblc), servers: [server("10.0.1.1", weight: 0), server("10.0.1.2")])
        s.setCounters(of: s.key("10.0.1.1"), active: 8_388_608, inactive: 0)  // [B w1, A w0: 2^31 + 2^23 wraps < 0]
        // First stage: B (w1, 0). Second: A not flagged; loh × w(A) = 0 × 0 > doh × w(B) = (2^23 - 2^31) × 1 → A.
        #expect(s.next(to("10.0.0.1")) == "10.0.1.1")
        // The hit is invalid (weight 0), the pick is A again: ip_vs_lblc_new keeps the entry as it is.
        #expect(s.next(to("10.0.0.1")) == "10.0.1.1")
        #expect(lblc(s).kernelEntryCount == 1)
        s.setCounters(of: s.key("10.0.1.1"), active: 8_355_967, inactive: 0)  // 2^31 - 129: positive, never wins
        #expect(s.next(to("10.0.0.1")) == "10.0.1.2")
    }

    @Test("No usable server: nil, and no entry is made")
    func noDestination() throws {
        var s = try make(weights: [0, 0])
        #expect(s.next(to("10.0.0.1")) == nil)
        #expect(lblc(s).cacheCount == 0)
    }

    // MARK: - Expiry (ip_vs_lblc_check_expire)

    static let list = DestinationList(kernelOrder: [
        DestinationState(server("10.0.1.3")), DestinationState(server("10.0.1.2")),
        DestinationState(server("10.0.1.1")),
    ])
    /// The same list with the head busy, so a fresh pick is .2 where a cache hit returns .3.
    static let busyHead = DestinationList(kernelOrder: [
        DestinationState(server("10.0.1.3"), inactiveConnections: 100), DestinationState(server("10.0.1.2")),
        DestinationState(server("10.0.1.1")),
    ])

    /// A pick over `list` (the same servers in the same order as the scheduler was made with, other counters),
    /// after telling the scheduler of the counters, as `ServiceScheduler` does.
    func pick(_ a: inout LocalityBasedLeastConnectionScheduler, _ address: String, _ list: DestinationList,
              at seconds: UInt64) -> String? {
        for i in list.indices { a.countersChanged(at: i, in: list) }
        return a.schedule(to(address), in: list, now: .seconds(seconds)).map { list[$0].server.address.description }
    }

    @Test("Entries go only at a full check: every 30th firing of the 60 s timer, i.e. every 30 min")
    func fullCheckEveryHalfHour() {
        var a = LocalityBasedLeastConnectionScheduler(
            destinations: Self.list, flags: [], settings: LocalityCacheSettings(expirationSeconds: 60))
        #expect(pick(&a, "10.0.0.1", Self.list, at: 10) == "10.0.1.3")
        // Unused for 60 s at t = 70, but the timer only counts until its 30th firing at t = 1800.
        var before = a
        #expect(pick(&before, "10.0.0.1", Self.busyHead, at: 1799) == "10.0.1.3")
        var after = a
        #expect(pick(&after, "10.0.0.1", Self.busyHead, at: 1800) == "10.0.1.2")  // 1800 ≥ 10 + 60: dropped
    }

    @Test("The default lblc_expiration is 24 h: an entry last used at 100 s goes at the full check at 88200 s")
    func defaultExpiration() {
        var a = LocalityBasedLeastConnectionScheduler(destinations: Self.list, flags: [])
        #expect(pick(&a, "10.0.0.1", Self.list, at: 100) == "10.0.1.3")
        // Full checks at k × 1800 s; the first with now ≥ 100 + 86400 is 49 × 1800 = 88200.
        var before = a
        #expect(pick(&before, "10.0.0.1", Self.busyHead, at: 88199) == "10.0.1.3")
        var after = a
        #expect(pick(&after, "10.0.0.1", Self.busyHead, at: 88200) == "10.0.1.2")
    }

    @Test("A hit refreshes lastuse; the timer counts from the scheduler's set-up time")
    func hitRefreshesAndTimerOrigin() {
        var a = LocalityBasedLeastConnectionScheduler(
            destinations: Self.list, flags: [],
            settings: LocalityCacheSettings(expirationSeconds: 60, createdAt: .seconds(1000)))
        #expect(pick(&a, "10.0.0.1", Self.list, at: 1010) == "10.0.1.3")
        #expect(pick(&a, "10.0.0.1", Self.busyHead, at: 2750) == "10.0.1.3")  // hit: lastuse = 2750
        // Full check at 1000 + 1800 = 2800: 2800 < 2750 + 60, kept; next at 4600 drops it.
        var early = a
        #expect(pick(&early, "10.0.0.1", Self.busyHead, at: 4599) == "10.0.1.3")
        #expect(pick(&a, "10.0.0.1", Self.busyHead, at: 4600) == "10.0.1.2")
    }

    @Test("A changed lblc_expiration applies from the next full check; a copy made before keeps its own")
    func settingsChangeAfterSetUp() {
        var a = LocalityBasedLeastConnectionScheduler(destinations: Self.list, flags: [])  // 24 h
        #expect(pick(&a, "10.0.0.1", Self.list, at: 10) == "10.0.1.3")
        var copy = a
        a.settings.expirationSeconds = 60
        #expect(a.settings.expirationSeconds == 60)
        #expect(copy.settings.expirationSeconds == LocalityCacheSettings.defaultExpirationSeconds)
        var before = a
        #expect(pick(&before, "10.0.0.1", Self.busyHead, at: 1799) == "10.0.1.3")
        #expect(pick(&a, "10.0.0.1", Self.busyHead, at: 1800) == "10.0.1.2")  // 1800 ≥ 10 + 60: dropped
        #expect(pick(&copy, "10.0.0.1", Self.busyHead, at: 1800) == "10.0.1.3")  // 1800 < 10 + 24 h: kept
    }

    @Test("Buckets are the kernel's hash_32(address, 10): 10.0.0.1 falls in bucket 159")
    func bucketHash() {
        // 0x0A000001 × 0x61C88647 mod 2^32 = 0x27C88647; its top 10 bits are 0x9F = 159.
        #expect(LocalityTable<Int>.bucket(of: v4("10.0.0.1")) == 159)
        // IPv6 folds the four 32-bit words first: 2001:db8::1 → 0x20010db8 ^ 1.
        #expect(LocalityTable<Int>.bucket(of: IPAddress("2001:db8::1")!)
            == LocalityTable<Int>.bucket(of: .v4(IPv4Address(0x2001_0db8 ^ 1))))
    }

    /// `count` fresh addresses 10.128.0.0, 10.128.0.1, …
    static func addresses(_ count: Int) -> [IPAddress] {
        (0..<count).map { .v4(IPv4Address(0x0A80_0000 + UInt32($0))) }
    }

    static func bucket(_ a: IPAddress) -> Int { Int((a.folded &* 0x61C8_8647) >> 22) }

    @Test("Over 16384 counted entries, the timer drops entries idle 6 min from the bucket after the rover")
    func sizeDrivenCheck() {
        var a = LocalityBasedLeastConnectionScheduler(
            destinations: Self.list, flags: [], settings: LocalityCacheSettings(expirationSeconds: 60))
        let all = Self.addresses(16385)
        for address in all { _ = a.schedule(Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: address, port: 80),
                                            in: Self.list, now: .zero) }
        #expect(a.kernelEntryCount == 16385)
        // Firings at 60…300 s: nothing idle for 360 s yet. At 360 s: goal = (16385 − 16384) × 4 / 3 = 1, so the
        // first bucket after the rover (0), bucket 1, is emptied entirely, and the walk stops there.
        let bucket1 = all.filter { Self.bucket($0) == 1 }.count
        #expect(bucket1 > 0)
        var at359 = a
        _ = at359.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(359))
        #expect(at359.cacheCount == 16386)
        var at360 = a
        _ = at360.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(360))
        #expect(at360.cacheCount == 16385 - bucket1 + 1)
        #expect(all.filter { Self.bucket($0) == 1 }.allSatisfy { at360.cachedDestination(for: $0) == nil })
        #expect(all.filter { Self.bucket($0) == 2 }.allSatisfy { at360.cachedDestination(for: $0) != nil })
        // The firings in size mode did not count towards the full check: counter is 1 after 360 s, so the 30th
        // quiet firing is at 360 + 30 × 60 = 2160 s rather than 1800 s.
        var b = a
        _ = b.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(360))
        var at2159 = b
        _ = at2159.schedule(to("10.0.0.2"), in: Self.list, now: .seconds(2159))
        #expect(at2159.cacheCount > 16000)
        var at2160 = b
        _ = at2160.schedule(to("10.0.0.2"), in: Self.list, now: .seconds(2160))
        #expect(at2160.cacheCount == 1)  // everything unused for 60 s went; the new entry remains
    }

    @Test("The size check drops whole buckets until (excess × 4 / 3) entries went, then resumes after the rover")
    func sizeCheckGoalAndRover() {
        var a = LocalityBasedLeastConnectionScheduler(destinations: Self.list, flags: [])
        let old = Self.addresses(16384 + 30)
        for address in old { _ = a.schedule(Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: address, port: 80),
                                            in: Self.list, now: .zero) }
        // Goal (30 × 4) / 3 = 40: buckets 1, 2, … are emptied until at least 40 entries went.
        var dropped = 0
        var lastBucket = 0
        while dropped < 40 {
            lastBucket += 1
            dropped += old.filter { Self.bucket($0) == lastBucket }.count
        }
        var b = a
        _ = b.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(360))
        #expect(b.cacheCount == old.count - dropped + 1)
        #expect(old.filter { Self.bucket($0) == lastBucket + 1 }.allSatisfy { b.cachedDestination(for: $0) != nil })

        // Back over the limit with fresh entries: the next firing (420 s) starts at the bucket after the rover.
        var c = LocalityBasedLeastConnectionScheduler(destinations: Self.list, flags: [])
        for address in Self.addresses(16385) {
            _ = c.schedule(Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: address, port: 80), in: Self.list,
                           now: .zero)
        }
        _ = c.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(360))  // bucket 1 emptied, rover = 1
        let bucket1 = Self.addresses(16385).filter { Self.bucket($0) == 1 }.count
        for address in (0..<bucket1).map({ IPAddress.v4(IPv4Address(0x0B00_0000 + UInt32($0))) }) {
            _ = c.schedule(Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: address, port: 80), in: Self.list,
                           now: .seconds(361))
        }
        #expect(c.kernelEntryCount == 16386)  // goal at 420 s: 2 × 4 / 3 = 2
        _ = c.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(420))
        let old2 = Self.addresses(16385).filter { Self.bucket($0) == 2 }
        let old3 = Self.addresses(16385).filter { Self.bucket($0) == 3 }
        #expect(old2.count >= 2)
        #expect(old2.allSatisfy { c.cachedDestination(for: $0) == nil })
        #expect(old3.allSatisfy { c.cachedDestination(for: $0) != nil })
    }

    @Test("Replacements alone can push the kernel's count over the limit and start size-driven drops")
    func driftTriggersSizeCheck() {
        var a = LocalityBasedLeastConnectionScheduler(destinations: Self.list, flags: [])
        let all = Self.addresses(16384)
        for address in all { _ = a.schedule(Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: address, port: 80),
                                            in: Self.list, now: .zero) }
        // Every entry names the head .3. Quiesce it and touch one entry: replaced, counted twice.
        let quiesced = DestinationList(kernelOrder: [
            DestinationState(server("10.0.1.3", weight: 0)), DestinationState(server("10.0.1.2")),
            DestinationState(server("10.0.1.1")),
        ])
        let probe = Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: all[0], port: 80)
        a.destinationUpdated(at: 0, in: quiesced)
        #expect(a.schedule(probe, in: quiesced, now: .seconds(1)).map { quiesced[$0].server.address } == v4("10.0.1.2"))
        #expect(a.cacheCount == 16384)
        #expect(a.kernelEntryCount == 16385)
        var later = a
        later.destinationUpdated(at: 0, in: Self.list)
        _ = later.schedule(to("10.0.0.1"), in: Self.list, now: .seconds(360))
        #expect(later.cacheCount == 16384 - all.filter { Self.bucket($0) == 1 && $0 != all[0] }.count + 1)
    }

    // MARK: - The table's storage and the hit's shortcuts

    @Test("A hit finds its server where the list moved it: servers added before it shift its index")
    func hitAfterListShift() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")  // cached at index 0
        try s.addDestination(server("10.0.1.4"))
        try s.addDestination(server("10.0.1.5"))  // [.5, .4, .3, .2, .1]: .3 is at index 2 now
        #expect(s.schedule(to("10.0.0.1")) == 2)
        #expect(s.schedule(to("10.0.0.1")) == 2)
        try s.removeDestination(s.key("10.0.1.5"))
        #expect(s.schedule(to("10.0.0.1")) == 1)
    }

    @Test("An IPv4 address and the IPv6 address that folds to the same value are different entries")
    func foldedTwinsAreDifferentEntries() throws {
        var s = try make()
        #expect(s.next(to("10.0.0.1")) == "10.0.1.3")
        s.setCounters(of: s.key("10.0.1.3"), active: 0, inactive: 50)
        let twin = Flow(.tcp, from: v4("192.168.0.1"), port: 1, to: IPAddress("::a00:1")!, port: 80)
        #expect(LocalityTable<Int>.bucket(of: twin.destinationAddress) == LocalityTable<Int>.bucket(of: v4("10.0.0.1")))
        #expect(s.next(twin) == "10.0.1.2")  // no entry for the twin: a fresh pick
        #expect(lblc(s).cacheCount == 2)
        #expect(lblc(s).cachedDestination(for: v4("10.0.0.1"))?.destination == s.key("10.0.1.3"))
        #expect(lblc(s).cachedDestination(for: twin.destinationAddress)?.destination == s.key("10.0.1.2"))
    }

    @Test("The table splits its chains as it grows: every entry stays found; a copy has storage of its own")
    func tableGrowthAndCopy() {
        var table = LocalityTable<Int>(createdAt: .zero)
        let all = Self.addresses(5000) + [IPAddress("2001:db8::1")!, IPAddress("::a80:0")!]
        for (n, address) in all.enumerated() { table.insert(n, for: address, now: .seconds(UInt64(n))) }
        #expect(table.count == all.count)
        var found = 0
        for (n, address) in all.enumerated() {
            if let e = table.entry(for: address), e.value == n, e.lastUse == .seconds(UInt64(n)) { found += 1 }
        }
        #expect(found == all.count)
        #expect(table.entry(for: v4("10.0.0.1")) == nil)

        var copy = LocalityTable(copying: table)
        copy.touch(copy.position(of: all[0])!, now: .seconds(9999))
        copy[value: copy.position(of: all[1])!] = -1
        copy.insert(-2, for: v4("10.0.0.1"), now: .zero)
        #expect(table.entry(for: all[0])?.lastUse == .zero)
        #expect(table.entry(for: all[1])?.value == 1)
        #expect(table.entry(for: v4("10.0.0.1")) == nil)
        #expect(table.count == all.count)
        #expect(copy.entry(for: all[0])?.lastUse == .seconds(9999))
        #expect(copy.entry(for: all[1])?.value == -1)
        #expect(copy.count == all.count + 1)
    }

    // MARK: - Against a literal transcription of the kernel

    @Test("Random edits, counters and packets: the same picks as a line-by-line transcription of ip_vs_lblc.c")
    func matchesTranscription() throws {
        var rng = SplitMix(seed: 0x1b1c)
        for _ in 0..<20 {
            var s = try ServiceScheduler(tcpService(.lblc), servers: (1...5).map {
                server("10.0.1.\($0)", weight: Int32(rng.next() % 4))
            })
            var reference = KernelLblcTranscription()
            for step in 0..<400 {
                switch rng.next() % 10 {
                case 0:
                    let k = DestinationKey(address: IPAddress("10.0.1.\(1 + rng.next() % 6)")!, port: 80)
                    if s.destinations.index(of: k) != nil {
                        try s.removeDestination(k)
                    } else {
                        try s.addDestination(server(k.address.description, weight: Int32(rng.next() % 4)))
                    }
                case 1:
                    guard !s.destinations.isEmpty else { break }
                    let d = s.destinations[Int(rng.next() % UInt64(s.destinations.count))]
                    try s.editDestination(server(d.server.address.description, weight: Int32(rng.next() % 4)))
                case 2, 3:
                    guard !s.destinations.isEmpty else { break }
                    let d = s.destinations[Int(rng.next() % UInt64(s.destinations.count))]
                    s.setCounters(of: d.key, active: Int32(rng.next() % 6), inactive: Int32(rng.next() % 600),
                                  overloaded: rng.next() % 5 == 0)
                default:
                    let f = to("10.0.0.\(1 + rng.next() % 4)")
                    let expected = reference.schedule(f.destinationAddress, s.destinations)
                    let got = s.schedule(f, now: .seconds(UInt64(step)))
                    #expect(got == expected, "step \(step)")
                }
            }
        }
    }
}

/// ip_vs_lblc.c `ip_vs_lblc_schedule`, `__ip_vs_lblc_schedule`, `is_overloaded` and `ip_vs_lblc_new`, transcribed
/// loop by loop (no expiry: the random runs stay under 30 min).
struct KernelLblcTranscription {
    var cache: [IPAddress: DestinationKey] = [:]

    static func overhead(_ d: DestinationState) -> Int64 {
        // include/net/ip_vs.h (6.1.192): `(activeconns << 8) + totalconns` in int; totalconns = active + inactive.
        let totalconns = d.activeConnections &+ d.inactiveConnections
        return Int64((d.activeConnections &<< 8) &+ totalconns)
    }

    static func weightedLeastConnection(_ list: DestinationList) -> Int? {
        var least: Int? = nil
        var loh: Int64 = 0
        var start = list.count
        for (i, d) in list.enumerated() {
            if d.overloaded { continue }
            if d.weight > 0 {
                least = i
                loh = overhead(d)
                start = i + 1
                break
            }
        }
        guard var l = least else { return nil }
        for i in start..<list.count {
            let d = list[i]
            if d.overloaded { continue }
            let doh = overhead(d)
            if loh * Int64(d.weight) > doh * Int64(list[l].weight) {
                l = i
                loh = doh
            }
        }
        return l
    }

    static func isOverloaded(_ d: DestinationState, _ list: DestinationList) -> Bool {
        if d.activeConnections > d.weight {
            for other in list where other.activeConnections * 2 < other.weight { return true }
        }
        return false
    }

    mutating func schedule(_ daddr: IPAddress, _ list: DestinationList) -> Int? {
        if let cached = cache[daddr], let i = list.index(of: cached) {
            if list[i].weight > 0 && !Self.isOverloaded(list[i], list) { return i }
        }
        guard let i = Self.weightedLeastConnection(list) else { return nil }
        cache[daddr] = list[i].key
        return i
    }
}

