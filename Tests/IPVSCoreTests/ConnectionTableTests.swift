import Testing
@testable import IPVSCore

/// Single-thread behaviour of `ConnectionTable`.
@Suite struct ConnectionTableTests {
    static func key(_ n: UInt32, port: UInt16 = 40000, proto: IPProtocol = .tcp, mark: UInt32 = 0) -> ConnectionKey {
        ConnectionKey(proto, client: IPv4Address(0x0A00_0000 | n), clientPort: port, virtual: IPv4Address(0xC0A8_0001),
                      virtualPort: 80, firewallMark: mark)
    }

    static func value(_ d: UInt32, state: UInt8 = 1, expiry: UInt64 = 100) -> ConnectionValue {
        ConnectionValue(destination: d, service: 7, state: state, flags: 0x0102, expiry: .seconds(expiry))
    }

    let now = Timestamp.seconds(10)

    @Test func insertThenLookupFindsTheValue() throws {
        let t = try ConnectionTable(capacity: 64)
        #expect(t.insert(Self.key(1), Self.value(3), now: now) == .inserted)
        let v = try #require(t.lookup(Self.key(1), now: now))
        #expect(v == Self.value(3))
        #expect(v.destination == 3 && v.service == 7 && v.state == 1 && v.flags == 0x0102)
        #expect(v.expiry == .seconds(100))
        #expect(t.lookup(Self.key(2), now: now) == nil)
        #expect(t.count() == 1)
    }

    @Test func insertOfAnExistingKeyReturnsTheCurrentValueAndChangesNothing() throws {
        let t = try ConnectionTable(capacity: 64)
        #expect(t.insert(Self.key(1), Self.value(3), now: now) == .inserted)
        #expect(t.insert(Self.key(1), Self.value(4), now: now) == .exists(Self.value(3)))
        #expect(t.lookup(Self.key(1), now: now)?.destination == 3)
        #expect(t.count() == 1)
    }

    @Test func removeReturnsTheValueOnceAndTheKeyIsGone() throws {
        let t = try ConnectionTable(capacity: 64)
        _ = t.insert(Self.key(1), Self.value(3), now: now)
        _ = t.insert(Self.key(2), Self.value(4), now: now)
        #expect(t.remove(Self.key(1)) == Self.value(3))
        #expect(t.remove(Self.key(1)) == nil)
        #expect(t.lookup(Self.key(1), now: now) == nil)
        #expect(t.lookup(Self.key(2), now: now) == Self.value(4))
        #expect(t.count() == 1)
    }

    @Test func updateChangesStateFlagsAndExpiryButNotTheIds() throws {
        let t = try ConnectionTable(capacity: 64)
        _ = t.insert(Self.key(1), Self.value(3), now: now)
        let r = t.update(Self.key(1), now: now) { old in
            var n = old
            n.state = 9
            n.flags = 0x8000
            n.expiry = .seconds(500)
            n.destination = 99  // ignored
            return n
        }
        var expected = Self.value(3)
        expected.state = 9
        expected.flags = 0x8000
        expected.expiry = .seconds(500)
        #expect(r == .updated(old: Self.value(3), new: expected))
        #expect(t.lookup(Self.key(1), now: now) == expected)
        #expect(t.update(Self.key(1), now: now) { _ in nil } == .declined(expected))
        #expect(t.update(Self.key(2), now: now) { $0 } == .notFound)
    }

    @Test func compareAndUpdateSucceedsOnlyFromTheExpectedValue() throws {
        let t = try ConnectionTable(capacity: 64)
        _ = t.insert(Self.key(1), Self.value(3, state: 1), now: now)
        let a = Self.value(3, state: 1), b = Self.value(3, state: 2), c = Self.value(3, state: 3)
        #expect(t.compareAndUpdate(Self.key(1), expected: a, desired: b, now: now) == .updated(old: a, new: b))
        #expect(t.compareAndUpdate(Self.key(1), expected: a, desired: c, now: now) == .declined(b))
        #expect(t.lookup(Self.key(1), now: now) == b)
    }

    @Test func ipv4Ipv6AndFirewallMarkKeysAreNotConfused() throws {
        let t = try ConnectionTable(capacity: 64)
        let v4 = ConnectionKey(.tcp, client: IPv4Address(10, 0, 0, 1), clientPort: 1, virtual: IPv4Address(10, 0, 0, 2),
                               virtualPort: 2)
        let mapped = try #require(ConnectionKey(.tcp, client: IPAddress("::ffff:10.0.0.1")!, clientPort: 1,
                                                virtual: IPAddress("::ffff:10.0.0.2")!, virtualPort: 2))
        let compat = try #require(ConnectionKey(.tcp, client: IPAddress("::10.0.0.1")!, clientPort: 1,
                                                virtual: IPAddress("::10.0.0.2")!, virtualPort: 2))
        let marked = ConnectionKey(.tcp, client: IPv4Address(10, 0, 0, 1), clientPort: 1,
                                   virtual: IPv4Address(10, 0, 0, 2), virtualPort: 2, firewallMark: 5)
        let udp = ConnectionKey(.udp, client: IPv4Address(10, 0, 0, 1), clientPort: 1, virtual: IPv4Address(10, 0, 0, 2),
                                virtualPort: 2)
        let keys = [v4, mapped, compat, marked, udp]
        #expect(Set(keys).count == keys.count)
        for (i, k) in keys.enumerated() {
            #expect(t.insert(k, Self.value(UInt32(i)), now: now) == .inserted, "\(k)")
        }
        for (i, k) in keys.enumerated() {
            #expect(t.lookup(k, now: now)?.destination == UInt32(i), "\(k)")
        }
        #expect(marked.firewallMark == 5 && v4.firewallMark == 0)
        #expect(mapped.family == .inet6 && v4.family == .inet)
        #expect(mapped.clientAddress == IPAddress("::ffff:10.0.0.1"))
        #expect(v4.description == "TCP 10.0.0.1:1 -> 10.0.0.2:2")
        #expect(ConnectionKey(.tcp, client: IPAddress("::1")!, clientPort: 1, virtual: IPAddress("10.0.0.1")!,
                              virtualPort: 2) == nil)
    }

    @Test func fullTableReturnsFullCountsItAndChangesNothing() throws {
        let t = try ConnectionTable(capacity: 16)
        for i in 0..<16 { #expect(t.insert(Self.key(UInt32(i)), Self.value(UInt32(i)), now: now) == .inserted) }
        #expect(t.insert(Self.key(100), Self.value(100), now: now) == .full)
        #expect(t.insert(Self.key(101), Self.value(101), now: now) == .full)
        #expect(t.fullInsertions == 2)
        #expect(t.count() == 16)
        #expect(t.lookup(Self.key(100), now: now) == nil)
        for i in 0..<16 { #expect(t.lookup(Self.key(UInt32(i)), now: now)?.destination == UInt32(i)) }
    }

    @Test func expiredConnectionsMissOnLookupAndAreReplacedOnInsert() throws {
        let t = try ConnectionTable(capacity: 64)
        _ = t.insert(Self.key(1), Self.value(3, expiry: 20), now: now)
        #expect(t.lookup(Self.key(1), now: .seconds(19))?.destination == 3)
        #expect(t.lookup(Self.key(1), now: Timestamp(nanoseconds: 20_000_000_000 - 1))?.destination == 3)
        #expect(t.lookup(Self.key(1), now: .seconds(20)) == nil)
        #expect(t.update(Self.key(1), now: .seconds(20)) { $0 } == .notFound)
        #expect(t.insert(Self.key(1), Self.value(4, expiry: 50), now: .seconds(20))
            == .replacedExpired(Self.value(3, expiry: 20)))
        #expect(t.lookup(Self.key(1), now: .seconds(20))?.destination == 4)
        #expect(t.count() == 1)
    }

    @Test func sweepRemovesExactlyTheExpiredConnections() throws {
        let t = try ConnectionTable(capacity: 256)
        for i in 0..<100 {
            _ = t.insert(Self.key(UInt32(i)), Self.value(UInt32(i), expiry: UInt64(i % 2 == 0 ? 20 : 40)), now: now)
        }
        var removed: [UInt32] = []
        let n = t.sweep(now: .seconds(30)) { k, v in
            #expect(k == Self.key(v.destination))
            removed.append(v.destination)
        }
        #expect(n == 50)
        #expect(removed.sorted() == Array(stride(from: 0, to: 100, by: 2)))
        #expect(t.count() == 50)
        for i in 0..<100 { #expect((t.lookup(Self.key(UInt32(i)), now: .seconds(30)) != nil) == (i % 2 == 1)) }
        // A tombstone stays only where a live connection follows it (lookups must probe past it).
        #expect(Self.clearableTombstones(t) == 0)
        #expect(t.occupancy().live == 50)
    }

    /// Tombstones directly followed by an empty slot: `remove` and `sweep` should leave none.
    static func clearableTombstones(_ t: ConnectionTable) -> Int {
        let status = { (s: Int) in t.loadRelaxed((s & t.mask) << 3) & ConnectionTable.Slot.statusMask }
        return (0..<t.capacity).filter {
            status($0) == ConnectionTable.Slot.tombstone && status($0 + 1) == ConnectionTable.Slot.empty
        }.count
    }

    @Test func removeClearsTombstonesAndInsertReusesThem() throws {
        // A full table of 8 slots is one probe chain with no empty slot.
        let t = try ConnectionTable(capacity: 8)
        for i in 0..<8 { #expect(t.insert(Self.key(UInt32(i)), Self.value(UInt32(i)), now: now) == .inserted) }
        #expect(t.occupancy() == (live: 8, tombstones: 0, empty: 0))
        // No empty slot anywhere: removed slots must stay tombstones, and inserts must reuse them.
        #expect(t.remove(Self.key(3)) == Self.value(3))
        #expect(t.remove(Self.key(5)) == Self.value(5))
        #expect(t.occupancy() == (live: 6, tombstones: 2, empty: 0))
        #expect(t.insert(Self.key(20), Self.value(20), now: now) == .inserted)
        #expect(t.insert(Self.key(21), Self.value(21), now: now) == .inserted)
        #expect(t.occupancy() == (live: 8, tombstones: 0, empty: 0))
        #expect(t.insert(Self.key(22), Self.value(22), now: now) == .full)
        // With no empty slot to stop at, removals leave tombstones, and new inserts reuse them all.
        for k in [0, 1, 2, 4, 6, 7, 20, 21] { #expect(t.remove(Self.key(UInt32(k))) != nil) }
        #expect(t.occupancy() == (live: 0, tombstones: 8, empty: 0))
        #expect(t.lookup(Self.key(0), now: now) == nil)
        for i in 30..<38 { #expect(t.insert(Self.key(UInt32(i)), Self.value(UInt32(i)), now: now) == .inserted) }
        #expect(t.occupancy() == (live: 8, tombstones: 0, empty: 0))
        for i in 30..<38 { #expect(t.lookup(Self.key(UInt32(i)), now: now)?.destination == UInt32(i)) }
    }

    @Test func removalsNextToAnEmptySlotLeaveNoTombstone() throws {
        let t = try ConnectionTable(capacity: 1024)
        for i in 0..<300 { _ = t.insert(Self.key(UInt32(i)), Self.value(UInt32(i)), now: now) }
        for i in 0..<300 where i % 3 != 0 { #expect(t.remove(Self.key(UInt32(i))) == Self.value(UInt32(i))) }
        #expect(Self.clearableTombstones(t) == 0)
        for i in 0..<300 where i % 3 == 0 { _ = t.remove(Self.key(UInt32(i))) }
        #expect(t.occupancy() == (live: 0, tombstones: 0, empty: 1024))
    }

    @Test func capacityIsRoundedUpToAPowerOfTwoAndBadCapacitiesThrow() throws {
        #expect(try ConnectionTable(capacity: 1).capacity == 1)
        #expect(try ConnectionTable(capacity: 1000).capacity == 1024)
        #expect(try ConnectionTable(capacity: 1024).memoryFootprint == 1024 * 64)
        #expect(throws: ConnectionTableError.invalidCapacity(0)) { try ConnectionTable(capacity: 0) }
        #expect(throws: ConnectionTableError.invalidCapacity(-5)) { try ConnectionTable(capacity: -5) }
        #expect(throws: ConnectionTableError.invalidCapacity(ConnectionTable.maximumCapacity + 1)) {
            try ConnectionTable(capacity: ConnectionTable.maximumCapacity + 1)
        }
        #expect(throws: ConnectionTableError.invalidProbeLimit(0)) { try ConnectionTable(capacity: 8, probeLimit: 0) }
    }
}
