import Synchronization

/// The balancer's map from service keys to service slots, readable without a lock: the kernel finds services under
/// RCU (ip_vs_ctl.c `ip_vs_service_find`); here a sequence lock over atomic words does it.
///
/// Entries are (three key words, slot) in an open-addressing array of atomics. A writer (holding the balancer's
/// control lock) makes the sequence odd, rewrites the array, and makes it even again; a reader probes with relaxed
/// loads between two reads of the sequence and retries if a write overlapped. Reads never block a writer and never
/// see a half-written entry; every word is an atomic, so there is no data race.
final class ServiceDirectory: @unchecked Sendable {
    private let sequence = Atomic<UInt64>(0)
    private let words: AtomicWords
    private let mask: Int
    /// Words per entry: key word 0 (tag), address words 1 and 2, slot.
    private static let stride = 4

    init(capacity: Int) {
        var n = 1
        while n < capacity * 2 { n <<= 1 }
        mask = n - 1
        words = AtomicWords(count: n * Self.stride)
    }

    /// The key as three words; word 0 is never 0 (bit 0 marks a used entry).
    @inlinable
    static func encode(_ key: ServiceKey) -> (UInt64, UInt64, UInt64) {
        switch key {
        case .address(let p, let a, let port):
            let (hi, lo, v6) = addressWords(a)
            return (1 | v6 << 2 | UInt64(p.rawValue) << 8 | UInt64(port) << 16, hi, lo)
        case .firewallMark(let mark, let family):
            let v6: UInt64 = family == .inet6 ? 1 : 0
            return (1 | 1 << 1 | v6 << 2 | UInt64(mark) << 32, 0, 0)
        }
    }

    @inlinable
    static func addressWords(_ a: IPAddress) -> (UInt64, UInt64, UInt64) {
        switch a {
        case .v4(let v): return (UInt64(v.value), 0, 0)
        case .v6(let v): return (v.high, v.low, 1)
        }
    }

    @inlinable
    static func hash(_ w: (UInt64, UInt64, UInt64)) -> Int {
        var h = w.0 &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ w.1 ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ w.2 ^ (h >> 32)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: h ^ (h >> 31))
    }

    /// The slot of the service with key words `w`, or nil.
    func find(_ w: (UInt64, UInt64, UInt64)) -> Int? {
        while true {
            let s1 = sequence.load(ordering: .acquiring)
            if s1 & 1 == 1 { continue }
            var found: Int? = nil
            var i = Self.hash(w) & mask
            for _ in 0...mask {
                let b = i * Self.stride
                let w0 = words.load(b)
                if w0 == 0 { break }
                if w0 == w.0 && words.load(b + 1) == w.1 && words.load(b + 2) == w.2 {
                    found = Int(words.load(b + 3))
                    break
                }
                i = (i + 1) & mask
            }
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == s1 { return found }
        }
    }

    func find(_ key: ServiceKey) -> Int? { find(Self.encode(key)) }

    /// Rewrites the directory with `entries` (key → slot). Callers serialise writes (the balancer's control lock).
    func replace(with entries: [ServiceKey: Int]) {
        let s = sequence.load(ordering: .relaxed)
        sequence.store(s &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        for i in 0..<(mask + 1) * Self.stride { words.store(i, 0) }
        for (key, slot) in entries {
            let w = Self.encode(key)
            var i = Self.hash(w) & mask
            while words.load(i * Self.stride) != 0 { i = (i + 1) & mask }
            let b = i * Self.stride
            words.store(b + 1, w.1)
            words.store(b + 2, w.2)
            words.store(b + 3, UInt64(slot))
            words.store(b, w.0)
        }
        sequence.store(s &+ 2, ordering: .releasing)
    }
}
