import Testing
@testable import IPVSCore

/// `ConnectionTable.lookup(_:now:into:)` and `prefetch(_:)`: a burst gives exactly what single lookups give.
@Suite struct ConnectionTableBatchTests {
    static func key(_ n: UInt32) -> ConnectionKey {
        ConnectionKey(.tcp, client: IPv4Address(0x0A00_0000 | n), clientPort: UInt16(truncatingIfNeeded: 1000 &+ n),
                      virtual: IPv4Address(0xC0A8_0001), virtualPort: 80)
    }

    static func key6(_ n: UInt64) -> ConnectionKey {
        ConnectionKey(.udp, client: IPv6Address(high: 0x2001_0db8_0000_0000, low: n), clientPort: 53,
                      virtual: IPv6Address(high: 0x2001_0db8_0000_0001, low: 1), virtualPort: 53)
    }

    /// A table with present, expired and removed connections, some of them probing past others (a small table).
    static func populatedTable(now: Timestamp) throws -> (ConnectionTable, [ConnectionKey]) {
        let t = try ConnectionTable(capacity: 128, hashSeed: 42)
        var keys: [ConnectionKey] = []
        for n in 0..<40 as Range<UInt32> {
            let k = n % 3 == 0 ? key6(UInt64(n)) : key(n)
            // Every fifth expires before `now`; every seventh is removed again.
            let expiry: Timestamp = n % 5 == 0 ? .seconds(5) : .seconds(100)
            #expect(t.insert(k, ConnectionValue(destination: n, service: 1, expiry: expiry), now: .seconds(1))
                == .inserted)
            if n % 7 == 0 { #expect(t.remove(k) != nil) }
            keys.append(k)
        }
        for n in 100..<110 as Range<UInt32> { keys.append(key(n)) }  // never inserted
        return (t, keys)
    }

    @Test(arguments: [0, 1, 15, 16, 17, 50])
    func batchLookupGivesWhatSingleLookupsGive(count: Int) throws {
        let now = Timestamp.seconds(10)
        let (t, all) = try Self.populatedTable(now: now)
        // Keys in a scrambled order, repeated so that every burst length occurs and duplicates share a burst.
        let keys = (0..<count).map { all[($0 &* 7) % all.count] }
        let expected = keys.map { t.lookup($0, now: now) }
        let values = UnsafeMutableBufferPointer<ConnectionValue?>.allocate(capacity: count + 1)
        defer { values.deallocate() }
        let found = keys.withUnsafeBufferPointer { t.lookup($0, now: now, into: values) }
        #expect(Array(values.prefix(count)) == expected)
        #expect(found == expected.count { $0 != nil })
        if count == 50 { #expect(found > 0 && found < 50) }  // the case exercises hits, expired and missing keys
    }

    @Test func batchLookupNeedsNoMoreValuesThanKeys() throws {
        let t = try ConnectionTable(capacity: 64, hashSeed: 1)
        #expect(t.insert(Self.key(1), ConnectionValue(destination: 9, service: 1, expiry: .never), now: .seconds(1))
            == .inserted)
        let values = UnsafeMutableBufferPointer<ConnectionValue?>.allocate(capacity: 1)
        defer { values.deallocate() }
        let found = [Self.key(1)].withUnsafeBufferPointer { t.lookup($0, now: .seconds(2), into: values) }
        #expect(found == 1 && values[0]?.destination == 9)
    }

    @Test func prefetchChangesNothing() throws {
        let now = Timestamp.seconds(10)
        let (t, keys) = try Self.populatedTable(now: now)
        let before = keys.map { t.lookup($0, now: now) }
        let occupancy = t.occupancy()
        keys.withUnsafeBufferPointer { t.prefetch($0) }
        #expect(keys.map { t.lookup($0, now: now) } == before)
        #expect(t.occupancy() == occupancy)
    }
}
