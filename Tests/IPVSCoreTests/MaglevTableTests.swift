import IPVSCore
import Testing

/// Keys for `count` backends: consecutive outputs of a SplitMix64 sequence, so they look like real hashed names.
private func backendKeys(_ count: Int, seed: UInt64 = 1) -> [UInt64] {
    (0..<count).map { MaglevHash.mix(seed &+ UInt64($0) &* MaglevHash.gamma) }
}

/// The paper's Pseudocode 1, written as literally as possible (a full permutation matrix and a `next` array), with
/// the same turns rule as `MaglevTable`. The optimised table must be identical to it slot for slot.
private func referenceSlots(size m: Int, backends: [MaglevTable.Backend]) -> [Int] {
    let weighted = backends.indices.filter { backends[$0].weight > 0 }
    var g: UInt32 = 0
    for i in weighted {
        var (x, y) = (g, backends[i].weight)
        while y != 0 { (x, y) = (y, x % y) }
        g = x
    }
    var turns = weighted.map { Int(backends[$0].weight / g) }
    let total = turns.reduce(0, +)
    let budget = max(m / 4, 1)
    if total > budget { turns = turns.map { max(1, $0 * budget / total) } }
    if turns.reduce(0, +) > m { turns = turns.map { _ in 1 } }

    let permutation: [[Int]] = weighted.map { i in
        let offset = Int(MaglevHash.offsetHash(backends[i].key) % UInt64(m))
        let skip = Int(MaglevHash.skipHash(backends[i].key) % UInt64(m - 1)) + 1
        return (0..<m).map { j in (offset + j * skip) % m }
    }
    var next = [Int](repeating: 0, count: weighted.count)
    var entry = [Int](repeating: -1, count: m)
    var n = 0
    while true {
        for (w, i) in weighted.enumerated() {
            for _ in 0..<turns[w] {
                var c = permutation[w][next[w]]
                while entry[c] >= 0 {
                    next[w] += 1
                    c = permutation[w][next[w]]
                }
                entry[c] = i
                next[w] += 1
                n += 1
                if n == m { return entry }
            }
        }
    }
}

private func slots(of table: MaglevTable) -> [Int] { (0..<table.size).map { table.backend(atSlot: $0) } }

@Suite("Maglev table")
struct MaglevTableTests {
    @Test("The hashes are SplitMix64: offset and skip are its first two outputs for seed = key")
    func hashesAreSplitMix64() {
        // Published SplitMix64 outputs for seed 0 (e.g. the reference splitmix64.c by Vigna).
        #expect(MaglevHash.offsetHash(0) == 0xE220_A839_7B1D_CDAF)
        #expect(MaglevHash.skipHash(0) == 0x6E78_9E6A_A1B9_65F4)
        #expect(MaglevHash.mix(3 &* MaglevHash.gamma) == 0x06C4_5D18_8009_454F)
        #expect(MaglevHash.mix(0) == 0)
    }

    @Test("Byte keys depend on every byte and on the length")
    func byteKeys() {
        let a = MaglevHash.key("backend-1.example")
        #expect(a == MaglevHash.key(bytes: Array("backend-1.example".utf8)))
        #expect(a != MaglevHash.key("backend-2.example"))
        #expect(MaglevHash.key(bytes: [0]) != MaglevHash.key(bytes: [0, 0]))
        #expect(MaglevHash.key(bytes: []) != MaglevHash.key(bytes: [0]))
        #expect(MaglevHash.key(bytes: [1, 2, 3, 4, 5, 6, 7, 8]) != MaglevHash.key(bytes: [1, 2, 3, 4, 5, 6, 7, 8, 0]))
    }

    @Test(
        "The table is the paper's Pseudocode 1, slot for slot",
        arguments: [(13, [1, 1, 1]), (4093, Array(repeating: 1, count: 50)), (4093, (0..<37).map { $0 % 5 }),
                    (65537, [3, 1, 4, 1, 5, 9, 2, 6]), (4093, [1001, 3000, 7, 0, 12])])
    func matchesPseudocode(size: Int, weights: [Int]) throws {
        let backends = zip(backendKeys(weights.count), weights).map { MaglevTable.Backend(key: $0, weight: UInt32($1)) }
        let table = try MaglevTable(size: size, backends: backends)
        #expect(slots(of: table) == referenceSlots(size: size, backends: backends))
    }

    @Test("Equal weights: every backend gets ⌊M/N⌋ or ⌈M/N⌉ slots and every slot is filled",
          arguments: [(65537, 100), (65537, 1000), (4093, 100), (4093, 1000), (2, 2), (7, 7)])
    func equalShares(size: Int, count: Int) throws {
        let table = try MaglevTable(size: size, keys: backendKeys(count))
        let counts = table.slotCounts
        #expect(counts.reduce(0, +) == size)
        #expect(counts.allSatisfy { $0 == size / count || $0 == (size + count - 1) / count })
        #expect(slots(of: table).allSatisfy { (0..<count).contains($0) })
    }

    @Test("Weighted: each backend's share is within one round of weight/Σweight, weight 0 gets nothing")
    func weightedShares() throws {
        let weights: [UInt32] = (0..<100).map { $0 % 10 == 9 ? 0 : UInt32($0 % 4 + 1) }
        let backends = zip(backendKeys(100), weights).map { MaglevTable.Backend(key: $0, weight: $1) }
        let table = try MaglevTable(size: 65537, backends: backends)
        let counts = table.slotCounts
        let total = weights.reduce(0, +)  // the gcd is 1 and Σ ≤ M/4, so turns are the weights
        let rounds = 65537 / Int(total)
        #expect(counts.reduce(0, +) == 65537)
        for (i, w) in weights.enumerated() {
            #expect(counts[i] >= rounds * Int(w) && counts[i] <= (rounds + 1) * Int(w),
                    "backend \(i) of weight \(w) has \(counts[i]) slots, \(rounds) rounds")
        }
    }

    @Test("Weights too large for a round are scaled down, keeping proportions and starving no one")
    func scaledWeights() throws {
        // gcd 1 and Σ = 4001 > 4093/4: scaled to 255 and 767 turns.
        let pair = try MaglevTable(size: 4093, backends: [.init(key: 1, weight: 1001), .init(key: 2, weight: 3000)])
        let c = pair.slotCounts
        #expect(abs(Double(c[1]) / Double(c[0]) - 3000.0 / 1001.0) < 0.1, "\(c)")

        // 1000 backends with weights up to 65535 in 4093 slots: without scaling the first ones would take it all.
        var x: UInt64 = 7
        let backends = backendKeys(1000).map { key -> MaglevTable.Backend in
            x = MaglevHash.mix(x)
            return .init(key: key, weight: UInt32(x % 65535) + 1)
        }
        let many = try MaglevTable(size: 4093, backends: backends)
        #expect(many.slotCounts.allSatisfy { $0 >= 1 })
    }

    @Test("Sizes must be prime and in range; the error says so", arguments: [
        (65536, MaglevTableError.sizeNotPrime(65536)), (4095, .sizeNotPrime(4095)), (1, .sizeOutOfRange(1)),
        (0, .sizeOutOfRange(0)), (-7, .sizeOutOfRange(-7)), (9, .sizeNotPrime(9)), (25, .sizeNotPrime(25)),
        (Int(Int32.max) + 1, .sizeOutOfRange(Int(Int32.max) + 1)),
    ])
    func sizeValidation(size: Int, error: MaglevTableError) {
        #expect(throws: error) { try MaglevTable(size: size, keys: [1, 2]) }
        #expect(error.description.contains("\(size)"))
    }

    @Test("Prime sizes are accepted", arguments: [2, 3, 13, 251, 4093, 65537, 1_000_003])
    func primeSizes(size: Int) throws {
        #expect(MaglevTable.isPrime(size))
        let table = try MaglevTable(size: size, keys: [1, 2])
        #expect(table.size == size)
        #expect(table.slotCounts.reduce(0, +) == size)
    }

    @Test("Prime test and next prime")
    func primes() {
        let small = (0..<60).filter(MaglevTable.isPrime)
        #expect(small == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59])
        #expect(MaglevTable.isPrime(Int(Int32.max)))  // 2³¹ − 1, a Mersenne prime
        #expect(!MaglevTable.isPrime(65537 * 65537))
        #expect(MaglevTable.smallestPrime(atLeast: 65536) == 65537)
        #expect(MaglevTable.smallestPrime(atLeast: 4090) == 4091)
    }

    @Test("Bad backend lists are refused with a clear error")
    func backendValidation() {
        #expect(throws: MaglevTableError.noWeightedBackend) { try MaglevTable(size: 13, keys: []) }
        #expect(throws: MaglevTableError.noWeightedBackend) {
            try MaglevTable(size: 13, backends: [.init(key: 1, weight: 0)])
        }
        #expect(throws: MaglevTableError.tooManyBackends(count: 8, size: 7)) {
            try MaglevTable(size: 7, keys: Array(1...8))
        }
        #expect(throws: MaglevTableError.duplicateKey(5)) { try MaglevTable(size: 13, keys: [9, 5, 1, 5]) }
        let many = backendKeys(1000)
        #expect(throws: MaglevTableError.duplicateKey(many[3])) { try MaglevTable(size: 4093, keys: many + [many[3]]) }
        #expect(throws: Never.self) { try MaglevTable(size: 4093, keys: many) }
        // Zero-weight backends do not count against the size.
        #expect(throws: Never.self) {
            try MaglevTable(size: 7, backends: (1...9).map { .init(key: $0, weight: $0 <= 7 ? 1 : 0) })
        }
    }

    @Test("Building twice gives the same table; the backend order matters only through turns")
    func determinism() throws {
        let keys = backendKeys(100)
        let a = try MaglevTable(size: 65537, keys: keys)
        let b = try MaglevTable(size: 65537, keys: keys)
        #expect(a == b)
        #expect(MaglevTable.disruption(a, b) == 0)
        let other = try MaglevTable(size: 65537, keys: backendKeys(100, seed: 2))
        #expect(a != other)
        // Reversing the list changes which backend wins contested slots, but by key the tables are nearly the same.
        let reversed = try MaglevTable(size: 65537, keys: keys.reversed())
        #expect(MaglevTable.disruption(a, reversed) < 0.05)
    }

    // Maglev's disruption is minimal only when the table is large against the backend count: each vacated slot is
    // taken by whichever backend reaches it first in the new fill, which shifts that backend's later choices, and so
    // on. Measured with these keys (mean over removals, in units of 1/N): M/N ≈ 6500: 1.02–1.14; M = 65537, N = 100:
    // 1.56; N = 1000: 6.7; M = 4093, N = 100: 4.1. The paper advises M > 100·N; the bounds below sit just above the
    // measured worst case, so a change to the fill order or the hashes that worsens disruption fails here.
    @Test("Removing one of N backends moves its own slots and few others",
          arguments: [(65537, 10, 1.2), (65537, 100, 2.0), (4093, 10, 1.3), (65537, 1000, 8.0), (4093, 100, 5.0)])
    func removalDisruption(size: Int, count: Int, boundTimesN: Double) throws {
        let keys = backendKeys(count)
        let before = try MaglevTable(size: size, keys: keys)
        let keysBefore = before.backends.map(\.key)
        for removed in [0, count / 3, count / 2, count - 1] {
            var rest = keys
            rest.remove(at: removed)
            let after = try MaglevTable(size: size, keys: rest)
            let d = MaglevTable.disruption(before, after)
            let keysAfter = after.backends.map(\.key)
            var own = 0
            var collateral = 0
            for s in 0..<size where keysBefore[before.backend(atSlot: s)] != keysAfter[after.backend(atSlot: s)] {
                if before.backend(atSlot: s) == removed { own += 1 } else { collateral += 1 }
            }
            #expect(own == before.slotCounts[removed], "every slot of the removed backend must move")
            #expect(Double(own + collateral) / Double(size) == d)
            #expect(d * Double(count) < boundTimesN,
                    "removing 1 of \(count) moved \(d * Double(count))/N of \(size) slots")
            if size / count >= 600 {
                #expect(collateral < own, "at M/N ≥ 600 fewer other slots move than the removed backend's own")
            }
        }
    }

    @Test("Adding one backend to N moves about its own share and few others",
          arguments: [(65537, 10, 1.2), (65537, 100, 2.0), (4093, 10, 1.3), (65537, 1000, 8.5), (4093, 100, 5.0)])
    func additionDisruption(size: Int, count: Int, boundTimesN: Double) throws {
        let keys = backendKeys(count + 1)
        let before = try MaglevTable(size: size, keys: Array(keys.dropLast()))
        let after = try MaglevTable(size: size, keys: keys)
        let d = MaglevTable.disruption(before, after)
        let newShare = Double(after.slotCounts[count]) / Double(size)
        #expect(d >= newShare, "every slot the new backend owns changed owner")
        #expect(d * Double(count + 1) < boundTimesN, "adding 1 to \(count) moved \(d * Double(count + 1))/(N+1)")
    }

    @Test("Disruption between unrelated backend sets is nearly total")
    func unrelatedDisruption() throws {
        let a = try MaglevTable(size: 4093, keys: backendKeys(10, seed: 1))
        let b = try MaglevTable(size: 4093, keys: backendKeys(10, seed: 99))
        #expect(MaglevTable.disruption(a, b) == 1)
    }

    @Test("Lookups spread flows over backends in proportion to their slots")
    func lookupDistribution() throws {
        let count = 100
        let table = try MaglevTable(size: 65537, keys: backendKeys(count))
        var hits = [Int](repeating: 0, count: count)
        let flows = 1_000_000
        for i in 0..<flows { hits[table.lookup(key: UInt64(i))] += 1 }
        // Binomial(10⁶, ~1/100): σ ≈ 99.5, so ±6 % is six σ.
        let expected = Double(flows) / Double(count)
        for (i, h) in hits.enumerated() {
            #expect(abs(Double(h) - expected) < 0.06 * expected, "backend \(i) got \(h) of \(flows) flows")
        }
        // The slot is the multiply-shift reduction of the hash, over the whole 64-bit range.
        #expect(table.lookup(0) == table.backend(atSlot: 0))
        #expect(table.lookup(.max) == table.backend(atSlot: 65536))
        #expect(table.lookup(1 << 63) == table.backend(atSlot: 32768))
        #expect(table.lookup(key: 12345) == table.lookup(MaglevHash.mix(12345)))
    }

    @Test("A table is shared between tasks without copying its slots")
    func sendable() async throws {
        let table = try MaglevTable(size: 4093, keys: backendKeys(10))
        let picks = await withTaskGroup(of: Int.self) { group in
            for i in 0..<4 { group.addTask { table.lookup(key: UInt64(i)) } }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(picks.allSatisfy { (0..<10).contains($0) })
    }
}
