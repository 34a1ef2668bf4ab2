#if canImport(Glibc)
import Glibc
#endif
@testable import IPVSCore
import Synchronization
import Testing

/// `ConnectionTable` under real threads (POSIX threads, not the cooperative pool: the bodies never suspend and must
/// run at the same time on both cores). Every value carries checksums of its key and of its other fields, so that a
/// torn read — fields of two different writes, or the key of one occupant and the value of another — is detected
/// by whoever reads it. `tools/test.d/host/20-tsan-stress` runs these suites (their names contain "Stress") under
/// ThreadSanitizer with fewer operations: set `CONNTABLE_STRESS_OPS` to the operations per thread.
@Suite("ConnectionTable under threads (Stress)", .serialized)
struct ConnectionTableStressTests {
    /// Operations per worker thread in the owners test (default 1 M: 2 M in total, and a third as many in the
    /// contended test; a few seconds in a debug build on an idle machine).
    static var operationsPerThread: Int {
        getenv("CONNTABLE_STRESS_OPS").flatMap { Int(String(cString: $0)) } ?? 1_000_000
    }

    static let now = Timestamp.seconds(1_000)
    static let future = Timestamp.seconds(10_000)
    static let past = Timestamp.seconds(999)

    // MARK: Keys and self-checking values

    /// Key `index` of `owner`: IPv4, IPv6 and firewall-mark keys in turn, with addresses that differ only in the
    /// owner, so that the kinds and the owners' keys collide in every way but the one that tells them apart.
    static func key(owner: Int, _ index: Int) -> ConnectionKey {
        let port = UInt16(truncatingIfNeeded: 1024 + index)
        let client = UInt32(0x0A00_0000) | UInt32(owner) << 16 | UInt32(index >> 16)
        switch index % 3 {
        case 0:
            return ConnectionKey(.tcp, client: IPv4Address(client), clientPort: port,
                                 virtual: IPv4Address(0xC0A8_0001), virtualPort: 80)
        case 1:
            return ConnectionKey(.udp, client: IPv6Address(high: 0x2001_0db8 << 32, low: UInt64(client)),
                                 clientPort: port, virtual: IPv6Address(high: 0x2001_0db8 << 32, low: 1),
                                 virtualPort: 53)
        default:
            return ConnectionKey(.tcp, client: IPv4Address(client), clientPort: port,
                                 virtual: IPv4Address(0xC0A8_0001), virtualPort: 80, firewallMark: 7)
        }
    }

    static func mix(_ x: UInt64) -> UInt64 { ConnectionKey.mix(x &+ 0x9E37_79B9_7F4A_7C15) }

    static func keyHash(_ k: ConnectionKey) -> UInt64 {
        var h = mix(k.tag)
        for w in [k.ports, k.client0, k.client1, k.virtual0, k.virtual1] { h = mix(h ^ w) }
        return h
    }

    /// The checksum of the ids word: the key and the token (destination).
    static func serviceSum(_ k: ConnectionKey, token: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: mix(keyHash(k) ^ UInt64(token)) >> 32)
    }

    /// A value for `k` with `token` (a unique number per insert, in `destination`), `count` (in `state`, bumped by
    /// each update) and `expiry`; `service` is a checksum of the key and token, `flags` of everything else.
    static func value(_ k: ConnectionKey, token: UInt32, count: UInt8, expiry: Timestamp) -> ConnectionValue {
        var v = ConnectionValue(destination: token, service: serviceSum(k, token: token), state: count,
                                flags: 0, expiry: expiry)
        v.flags = flagsSum(k, v)
        return v
    }

    static func flagsSum(_ k: ConnectionKey, _ v: ConnectionValue) -> UInt16 {
        UInt16(truncatingIfNeeded: mix(keyHash(k) ^ UInt64(v.destination) << 8 ^ UInt64(v.state)
                                       ^ v.expiry.nanoseconds &* 31) >> 40)
    }

    /// Whether `v` is a value that was written for `k` as one piece.
    static func isIntact(_ k: ConnectionKey, _ v: ConnectionValue) -> Bool {
        v.service == serviceSum(k, token: v.destination) && v.flags == flagsSum(k, v)
    }

    /// Where `k` is in the table and the statuses of the slots between its home slot and there, for a failure
    /// message: an entry that is in the table but behind an empty slot (status 0) is cut off from its home slot,
    /// which lookups and removals would report as a miss.
    static func whereIs(_ k: ConnectionKey, in table: ConnectionTable) -> String {
        let home = table.locate(k).slot
        for d in 0..<table.capacity {
            let b = ((home + d) & table.mask) << 3
            let h = table.loadAcquire(b)
            let status = h & ConnectionTable.Slot.statusMask
            guard status == ConnectionTable.Slot.live || status == ConnectionTable.Slot.pending,
                  table.keyAt(b, header: h) == k else { continue }
            let path = (0..<d).map {
                table.loadAcquire(((home + $0) & table.mask) << 3) & ConnectionTable.Slot.statusMask
            }
            return "in the table \(d) slots from its home \(home); statuses on the way \(path)"
        }
        return "not in the table (home slot \(home))"
    }

    // MARK: Disjoint owners with shadow models, a concurrent sweeper

    /// What an owner believes about one of its keys.
    enum Shadow: Equatable {
        case absent
        case live(ConnectionValue)
        /// Expired by the owner: still in the table, or removed by the sweeper (which then logged it).
        case expired(ConnectionValue)
    }

    final class Owner: @unchecked Sendable {
        let id: Int
        var shadow: [Shadow]
        var failures: [String] = []
        /// Expired values this owner took back itself (remove, or insert replacing them).
        var releasedExpired: [ConnectionKey: [ConnectionValue]] = [:]
        var expiredValues: [ConnectionKey: [ConnectionValue]] = [:]
        var operations = 0
        var othersRead = 0

        init(id: Int, keys: Int) {
            self.id = id
            self.shadow = Array(repeating: .absent, count: keys)
        }

        func fail(_ s: String) { if failures.count < 20 { failures.append(s) } }
    }

    /// Each of two threads owns a disjoint set of keys and applies random inserts, lookups, updates, removals and
    /// expiries to them, checking every answer against its own model; it also reads the other's keys and checks
    /// that what it sees is intact. A third thread sweeps expired connections (in random slot ranges) and logs what
    /// it removes. At the end the table holds exactly the union of the models' live and not-yet-swept entries, no
    /// key twice, and every expired value was released exactly once (by its owner or by the sweeper).
    @Test func ownersWithShadowModelsAndAConcurrentSweeper() throws {
        let keysPerOwner = 1_500
        let table = try ConnectionTable(capacity: 8_192, probeLimit: 128)
        let owners = [Owner(id: 0, keys: keysPerOwner), Owner(id: 1, keys: keysPerOwner)]
        let ops = Self.operationsPerThread
        final class SweepLog: @unchecked Sendable {
            let ownersDone = Atomic<Int>(0)
            var removed: [(ConnectionKey, ConnectionValue)] = []
            var failures: [String] = []
            var sweeps = 0
        }
        let log = SweepLog()

        let worker: @Sendable (Owner) -> Void = { o in
            var rng = ConnectionStressRandom(seed: UInt64(o.id) &+ 42)
            var token = UInt32(o.id) << 28
            for _ in 0..<ops {
                o.operations += 1
                let r = rng.next()
                let i = Int(r >> 40) % keysPerOwner
                let k = Self.key(owner: o.id, i)
                switch r & 15 {
                case 0...5:  // lookup own key
                    let got = table.lookup(k, now: Self.now)
                    if case .live(let v) = o.shadow[i] {
                        if got != v {
                            let place = Self.whereIs(k, in: table)
                            o.fail("lookup \(k): \(String(describing: got)), expected \(v); \(place)")
                        }
                    } else if got != nil {
                        o.fail("lookup \(k): \(got!), expected a miss (\(o.shadow[i]))")
                    }
                case 6...7:  // lookup another owner's key: intact or absent
                    let k2 = Self.key(owner: 1 - o.id, Int(r >> 20) % keysPerOwner)
                    if let v = table.lookup(k2, now: Self.now) {
                        o.othersRead += 1
                        if !Self.isIntact(k2, v) { o.fail("torn read of \(k2): \(v)") }
                    }
                case 8...9:  // insert
                    token &+= 1
                    let v = Self.value(k, token: token, count: 0, expiry: Self.future)
                    let got = table.insert(k, v, now: Self.now)
                    switch (o.shadow[i], got) {
                    case (.absent, .inserted): o.shadow[i] = .live(v)
                    case (.live(let old), .exists(let cur)) where cur == old: break
                    case (.expired(let old), .replacedExpired(let cur)) where cur == old:
                        o.releasedExpired[k, default: []].append(cur)
                        o.shadow[i] = .live(v)
                    case (.expired, .inserted): o.shadow[i] = .live(v)  // the sweeper took it
                    default: o.fail("insert \(k): \(got) with \(o.shadow[i])")
                    }
                case 10...11:  // update: bump the count
                    let got = table.update(k, now: Self.now) { cur in
                        var n = cur
                        n.state = cur.state &+ 1
                        n.flags = Self.flagsSum(k, n)
                        return n
                    }
                    if case .live(let old) = o.shadow[i] {
                        var n = old
                        n.state = old.state &+ 1
                        n.flags = Self.flagsSum(k, n)
                        if got != .updated(old: old, new: n) { o.fail("update \(k): \(got), expected from \(old)") }
                        o.shadow[i] = .live(n)
                    } else if got != .notFound {
                        o.fail("update \(k): \(got) with \(o.shadow[i])")
                    }
                case 12...13:  // remove
                    let got = table.remove(k)
                    switch o.shadow[i] {
                    case .absent: if got != nil { o.fail("remove \(k): \(got!) from nothing") }
                    case .live(let v):
                        if got != v {
                            let place = Self.whereIs(k, in: table)
                            o.fail("remove \(k): \(String(describing: got)), expected \(v); \(place)")
                        }
                    case .expired(let v):
                        if let g = got {
                            if g != v { o.fail("remove \(k): \(g), expected \(v)") }
                            o.releasedExpired[k, default: []].append(g)
                        }
                    }
                    o.shadow[i] = .absent
                default:  // expire: move the expiry into the past
                    let got = table.update(k, now: Self.now) { cur in
                        var n = cur
                        n.expiry = Self.past
                        n.flags = Self.flagsSum(k, n)
                        return n
                    }
                    if case .live(let old) = o.shadow[i] {
                        var n = old
                        n.expiry = Self.past
                        n.flags = Self.flagsSum(k, n)
                        if got != .updated(old: old, new: n) { o.fail("expire \(k): \(got), expected from \(old)") }
                        o.shadow[i] = .expired(n)
                        o.expiredValues[k, default: []].append(n)
                    } else if got != .notFound {
                        o.fail("expire \(k): \(got) with \(o.shadow[i])")
                    }
                }
            }
            log.ownersDone.add(1, ordering: .releasing)
        }
        let sweeper: @Sendable () -> Void = {
            var rng = ConnectionStressRandom(seed: 7)
            repeat {
                let start = Int(rng.next() % UInt64(table.capacity))
                table.sweep(now: Self.now, slots: start..<(start + 512)) { k, v in log.removed.append((k, v)) }
                log.sweeps += 1
                // A third reader: any key of either owner, intact or absent.
                let r = rng.next()
                let k = Self.key(owner: Int(r & 1), Int(r >> 32) % keysPerOwner)
                if let v = table.lookup(k, now: Self.now), !Self.isIntact(k, v) {
                    log.failures.append("torn read of \(k): \(v)")
                }
            } while log.ownersDone.load(ordering: .acquiring) < 2
        }
        runThreads([{ worker(owners[0]) }, { worker(owners[1]) }, sweeper])

        for o in owners { #expect(o.failures.isEmpty, "owner \(o.id): \(o.failures)") }
        #expect(log.failures.isEmpty, "\(log.failures)")
        #expect(owners.allSatisfy { $0.othersRead > 0 }, "the owners read each other's keys")
        #expect(log.sweeps > 0)

        // The table holds each owner's live entries, and expired ones not yet swept; no key twice; all intact.
        var seen: [ConnectionKey: ConnectionValue] = [:]
        var duplicates = 0
        table.forEach { k, v in
            if seen.updateValue(v, forKey: k) != nil { duplicates += 1 }
            if !Self.isIntact(k, v) { Issue.record("torn entry \(k): \(v)") }
        }
        #expect(duplicates == 0)
        var expiredLeft = 0
        for o in owners {
            for i in 0..<keysPerOwner {
                let k = Self.key(owner: o.id, i)
                switch o.shadow[i] {
                case .absent: #expect(seen[k] == nil, "\(k) should be absent")
                case .live(let v): #expect(seen[k] == v, "\(k)")
                case .expired(let v):
                    if let s = seen[k] { #expect(s == v, "\(k)"); expiredLeft += 1 }
                }
            }
        }
        let live = owners.map { $0.shadow.filter { if case .live = $0 { return true } else { return false } }.count }
        #expect(seen.count == live.reduce(0, +) + expiredLeft)

        // A final sweep takes the expired ones left; then every expired value was released exactly once.
        table.sweep(now: Self.now) { k, v in log.removed.append((k, v)) }
        #expect(table.count() == live.reduce(0, +))
        var released: [ConnectionKey: [ConnectionValue]] = [:]
        for (k, v) in log.removed { released[k, default: []].append(v) }
        for o in owners { for (k, vs) in o.releasedExpired { released[k, default: []] += vs } }
        var expired: [ConnectionKey: [ConnectionValue]] = [:]
        for o in owners { for (k, vs) in o.expiredValues { expired[k, default: []] += vs } }
        var mismatches = 0
        for k in Set(released.keys).union(expired.keys) {
            let a = (released[k] ?? []).map { $0.destination }.sorted()
            let b = (expired[k] ?? []).map { $0.destination }.sorted()
            if a != b { mismatches += 1 }
        }
        #expect(mismatches == 0, "expired values released other than exactly once")
        #expect(expired.values.map(\.count).reduce(0, +) > 1000, "the run expired many connections")
        #expect(table.fullInsertions == 0)
    }

    // MARK: An insert racing the removal of the entry before it

    /// Two keys with the same home slot: one thread inserts and removes `a` again and again; the other inserts `k`
    /// (which lands in the slot after `a`'s, or in `a`'s home slot when `a` is absent), checks that `k` can be
    /// found, and removes it. An insert whose probe passed `a` while `a` was there, and then found the next slot
    /// empty after `a` was removed and its slot emptied (`clearTombstone`), would put `k` behind an empty slot:
    /// `k` could then be neither found nor removed, and a second insert of it would put it in the table twice.
    @Test func insertRacingTheRemovalOfTheEntryBeforeIt() throws {
        let table = try ConnectionTable(capacity: 64, probeLimit: 64, hashSeed: 0x5EED)
        let keys = (0..<4_096).map { Self.key(owner: 5, $0) }
        var byHome: [Int: ConnectionKey] = [:]
        var pair: (ConnectionKey, ConnectionKey)? = nil
        for k in keys {
            let home = table.locate(k).slot
            if let a = byHome[home] { pair = (a, k); break }
            byHome[home] = k
        }
        let (a, k) = try #require(pair)
        let rounds = max(1_000, Self.operationsPerThread / 4)  // before the fix it failed within 16 k–190 k
        final class Log: @unchecked Sendable {
            let done = Atomic<Bool>(false)
            var failures: [String] = []
            var behind = 0
        }
        let log = Log()
        let remover: @Sendable () -> Void = {
            var token: UInt32 = 0
            while !log.done.load(ordering: .acquiring) {
                token &+= 1
                _ = table.insert(a, Self.value(a, token: token, count: 0, expiry: Self.future), now: Self.now)
                _ = table.remove(a)
            }
        }
        let inserter: @Sendable () -> Void = {
            defer { log.done.store(true, ordering: .releasing) }
            for token in 1...UInt32(rounds) {
                let v = Self.value(k, token: token, count: 0, expiry: Self.future)
                let got = table.insert(k, v, now: Self.now)
                guard got == .inserted else { log.failures.append("insert \(token): \(got)"); return }
                if table.lookup(k, now: Self.now) != v {
                    log.behind += 1
                    let place = Self.whereIs(k, in: table)
                    let again = table.insert(k, Self.value(k, token: 0, count: 0, expiry: Self.future), now: Self.now)
                    log.failures.append("lookup after insert \(token) missed: \(place); inserted again: \(again)")
                    return
                }
                guard table.remove(k) == v else { log.failures.append("remove \(token) missed"); return }
            }
        }
        runThreads([remover, inserter])
        #expect(log.failures.isEmpty, "\(log.failures)")
        #expect(table.count() == 0)
    }

    /// Two threads insert the same keys at once, round after round, each round after every key's previous
    /// connection has expired. The expired connection must be handed back exactly once — by the insert that removed
    /// it, whether that insert then won the race or lost it to the other thread's — because a caller releases what
    /// the expired connection held (the per-destination counts) only from that value; and exactly one of the two
    /// inserts must have inserted.
    @Test func concurrentInsertsOverAnExpiredConnectionHandItBackExactlyOnce() throws {
        let table = try ConnectionTable(capacity: 256, probeLimit: 64, hashSeed: 0xE1)
        // Many keys, taken in opposite orders by the two threads, so that they meet on some keys at the same time
        // even when one of them starts a few microseconds late.
        let keys = (0..<64).map { Self.key(owner: 6, $0) }
        let rounds = max(500, Self.operationsPerThread / 100)
        let expiring = Timestamp(nanoseconds: 999_500_000_000)  // live at `past`, expired at `now`
        final class Shared: @unchecked Sendable {
            let started = Atomic<Int>(0)  // the round both threads may run
            let finished = Atomic<Int>(0)  // inserts threads have completed, over all rounds
            /// Each thread's results of the round, written by that thread only.
            let results: [UnsafeMutableBufferPointer<ConnectionInsertResult>]
            var failures: [String] = []
            init(keys: Int) {
                results = (0..<2).map { _ in
                    let b = UnsafeMutableBufferPointer<ConnectionInsertResult>.allocate(capacity: keys)
                    b.initialize(repeating: .full)
                    return b
                }
            }
            deinit { results.forEach { $0.deallocate() } }
        }
        let shared = Shared(keys: keys.count)
        @Sendable func prepare(round: Int) {
            for (i, k) in keys.enumerated() {
                _ = table.remove(k)
                let v = Self.value(k, token: UInt32(round * 100 + i), count: 0, expiry: expiring)
                precondition(table.insert(k, v, now: Self.past) == .inserted)
            }
        }
        @Sendable func check(_ round: Int) {
            for i in keys.indices {
                let expired = UInt32(round * 100 + i)
                var handedBack = 0, inserted = 0
                for t in 0..<2 {
                    switch shared.results[t][i] {
                    case .inserted: inserted += 1
                    case .replacedExpired(let v):
                        inserted += 1
                        if v.destination == expired { handedBack += 1 }
                    case .exists: break
                    case .full: break
                    case .removedExpired(let v, _):
                        if v.destination == expired { handedBack += 1 }
                    }
                }
                if (handedBack != 1 || inserted != 1) && shared.failures.count < 10 {
                    shared.failures.append(
                        "round \(round) key \(i): expired value handed back \(handedBack)×, inserted \(inserted)×: "
                            + "\(shared.results[0][i]) / \(shared.results[1][i])")
                }
            }
        }
        func worker(_ t: Int) -> @Sendable () -> Void {
            {
                for round in 1...rounds {
                    if t == 0 {
                        while shared.finished.load(ordering: .acquiring) < 2 * (round - 1) { sched_yield() }
                        if round > 1 { check(round - 1) }
                        prepare(round: round)
                        shared.started.store(round, ordering: .releasing)
                    } else {
                        while shared.started.load(ordering: .acquiring) < round { sched_yield() }
                    }
                    for i in t == 0 ? Array(keys.indices) : keys.indices.reversed() {
                        let k = keys[i]
                        let v = Self.value(k, token: UInt32(100_000_000 + round * 100 + i * 2 + t), count: 0,
                                           expiry: Self.future)
                        shared.results[t][i] = table.insert(k, v, now: Self.now)
                    }
                    shared.finished.add(1, ordering: .releasing)
                }
                if t == 0 {
                    while shared.finished.load(ordering: .acquiring) < 2 * rounds { sched_yield() }
                    check(rounds)
                }
            }
        }
        runThreads([worker(0), worker(1)])
        #expect(shared.failures.isEmpty, "\(shared.failures)")
    }

    // MARK: Contended keys

    /// Two threads race on the same few keys: inserts with unique tokens, removals, counting updates and lookups.
    /// Checked: every token inserted is removed exactly once or left in the table exactly once; `.exists` only ever
    /// shows a token that was inserted; no two updates started from the same value of one occupant, and the value a
    /// removal returns (or the table keeps) carries exactly as many updates as succeeded on it; between rounds (all
    /// threads stopped), no key is in the table twice and the table holds exactly the tokens not removed.
    @Test func threadsRacingOnTheSameKeys() throws {
        let keys = (0..<48).map { Self.key(owner: 3, $0) }
        let table = try ConnectionTable(capacity: 128, probeLimit: 128)
        let rounds = 100
        let opsPerRound = max(1, Self.operationsPerThread / 3 / rounds)
        final class Log: @unchecked Sendable {
            var inserted: [UInt32] = []
            var removed: [(token: UInt32, updates: UInt8)] = []
            var updatedFrom: [(token: UInt32, from: UInt8)] = []
            var existing: [UInt32] = []
            var failures: [String] = []
            var full = 0
        }
        let logs = [Log(), Log()]
        var allInserted: Set<UInt32> = []
        var allRemoved: [UInt32: UInt8] = [:]
        var updates: [UInt32: Int] = [:]
        for round in 0..<rounds {
            let work: (Int) -> @Sendable () -> Void = { t in
                {
                    let log = logs[t]
                    var rng = ConnectionStressRandom(seed: UInt64(round * 2 + t))
                    var token = UInt32(t + 1) << 28 | UInt32(round) << 20
                    for _ in 0..<opsPerRound {
                        let r = rng.next()
                        let k = keys[Int(r >> 40) % keys.count]
                        switch r & 7 {
                        case 0...1:
                            token &+= 1
                            switch table.insert(k, Self.value(k, token: token, count: 0, expiry: Self.future),
                                                now: Self.now) {
                            case .inserted: log.inserted.append(token)
                            case .exists(let v):
                                log.existing.append(v.destination)
                                if !Self.isIntact(k, v) { log.failures.append("torn .exists \(k): \(v)") }
                            case .replacedExpired(let v), .removedExpired(let v, _):
                                log.failures.append("nothing expires here: \(v)")
                            case .full: log.full += 1
                            }
                        case 2...3:
                            if let v = table.remove(k) {
                                log.removed.append((v.destination, v.state))
                                if !Self.isIntact(k, v) { log.failures.append("torn removal \(k): \(v)") }
                            }
                        case 4...5:
                            let got = table.update(k, now: Self.now) { cur in
                                var n = cur
                                n.state = cur.state &+ 1
                                n.flags = Self.flagsSum(k, n)
                                return n
                            }
                            if case .updated(let old, let new) = got {
                                log.updatedFrom.append((old.destination, old.state))
                                if !Self.isIntact(k, old) || !Self.isIntact(k, new) || new.state != old.state &+ 1 {
                                    log.failures.append("update \(k): \(old) -> \(new)")
                                }
                            }
                        default:
                            if let v = table.lookup(k, now: Self.now), !Self.isIntact(k, v) {
                                log.failures.append("torn read \(k): \(v)")
                            }
                        }
                    }
                }
            }
            runThreads([work(0), work(1)])

            // Quiescent: check this round's log against the table.
            for log in logs {
                #expect(log.failures.isEmpty, "\(log.failures.prefix(5))")
                #expect(log.full == 0, "48 keys in 128 slots never fill the window")
                for t in log.inserted { #expect(allInserted.insert(t).inserted, "token \(t) inserted twice") }
                for (t, n) in log.removed {
                    #expect(allRemoved.updateValue(n, forKey: t) == nil, "token \(t) removed twice")
                }
                for (t, _) in log.updatedFrom { updates[t, default: 0] += 1 }
            }
            var fromPairs: Set<UInt64> = []
            for log in logs {
                for (t, f) in log.updatedFrom {
                    #expect(fromPairs.insert(UInt64(t) << 8 | UInt64(f)).inserted, "two updates from one value")
                }
                for t in log.existing { #expect(allInserted.contains(t), ".exists showed token \(t)") }
                log.inserted = []
                log.removed = []
                log.updatedFrom = []
                log.existing = []
            }
            var present: [ConnectionKey: UInt32] = [:]
            var duplicates = 0
            table.forEach { k, v in
                if present.updateValue(v.destination, forKey: k) != nil { duplicates += 1 }
                #expect(Int(v.state) == (updates[v.destination] ?? 0) % 256, "lost update on \(v.destination)")
            }
            #expect(duplicates == 0, "round \(round): a key twice in the table")
            let remaining = Set(present.values)
            #expect(remaining.count == present.count)
            #expect(remaining.isDisjoint(with: allRemoved.keys), "round \(round)")
            #expect(remaining.union(allRemoved.keys) == allInserted, "round \(round): tokens lost")
            if duplicates > 0 || remaining.union(allRemoved.keys) != allInserted { break }
        }
        for (t, n) in allRemoved { #expect(Int(n) == (updates[t] ?? 0) % 256, "removal of \(t) lost updates") }
        #expect(allInserted.count > 500 && allRemoved.count > 500 && updates.count > 250)
    }
}

/// A small deterministic generator (ConnectionStressRandom64), so that a failing run can be replayed.
struct ConnectionStressRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return ConnectionKey.mix(state)
    }
}

/// Runs each body on its own POSIX thread and waits for all of them.
private func runThreads(_ bodies: [@Sendable () -> Void]) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for body in bodies {
        var t = pthread_t()
        let arg = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, arg)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}
