// The key streams every implementation runs: generated once per configuration, in C's key layout, and converted to
// the Swift table's key type outside the timed region.
import CConnTableReference

/// SplitMix64's output function, the Swift twin of CConnRef_mix (checked equal at start-up).
@inline(__always)
func splitMix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

/// The fields of key number `index` of sequence `seed`, as CConnRef_make_key builds them: v = mix(seed + (index+1)·γ);
/// client address = v's low 32 bits, client port = bits 32-47, virtual address 10.100.(v >> 56).(v >> 48 & 0xff),
/// virtual port 80, TCP.
struct KeyFields: Equatable {
    var clientAddress: UInt32  // host order: 0x0A000001 is 10.0.0.1
    var clientPort: UInt16
    var virtualAddress: UInt32
    var virtualPort: UInt16

    init(seed: UInt64, index: UInt64) {
        let v = splitMix(seed &+ (index &+ 1) &* golden)
        clientAddress = UInt32(truncatingIfNeeded: v)
        clientPort = UInt16(truncatingIfNeeded: v >> 32)
        virtualAddress = 0x0A64_0000 | UInt32(truncatingIfNeeded: (v >> 56) << 8) | UInt32(truncatingIfNeeded: (v >> 48) & 0xFF)
        virtualPort = 80
    }

    init(_ key: CConnRef_Key) {
        clientAddress = UInt32(truncatingIfNeeded: key.client0)
        virtualAddress = UInt32(truncatingIfNeeded: key.virtual0)
        clientPort = UInt16(truncatingIfNeeded: key.ports)
        virtualPort = UInt16(truncatingIfNeeded: key.ports >> 16)
    }
}

/// Checks that the Swift key sequence is the C one (and mix is mix): the two sides must run identical workloads.
func keySequencesAgree(seed: UInt64) -> Bool {
    for x: UInt64 in [0, 1, 0xDEAD_BEEF, .max] where CConnRef_mix(x) != splitMix(x) { return false }
    var key = CConnRef_Key()
    for index in stride(from: UInt64(0), to: 1 << 20, by: 97) {
        CConnRef_make_key(seed, index, &key)
        guard key.tag == 6 << 8, key.ports >> 32 == 0, key.client1 == 0, key.virtual1 == 0,
            KeyFields(key) == KeyFields(seed: seed, index: index)
        else {
            return false
        }
    }
    return true
}

/// A buffer of C keys (48 bytes each) with explicit lifetime: at 16 M entries these are hundreds of megabytes.
struct KeyBuffer: @unchecked Sendable {
    let keys: UnsafeMutableBufferPointer<CConnRef_Key>
    let ops: UnsafeMutableBufferPointer<UInt8>?

    init(count: Int, withOps: Bool) {
        keys = .allocate(capacity: count)
        ops = withOps ? .allocate(capacity: count) : nil
    }

    var count: Int { keys.count }

    func free() {
        keys.deallocate()
        ops?.deallocate()
    }
}

enum Workload: String, CaseIterable {
    case insert, lookup, miss, mixed
    case balancerNew = "balancer-new"
    case balancerExisting = "balancer-existing"

    var label: String {
        switch self {
        case .insert: "insert"
        case .lookup: "lookup hits"
        case .miss: "lookup misses"
        case .mixed: "mixed 90/5/5"
        case .balancerNew: "Balancer new flow"
        case .balancerExisting: "Balancer existing flow"
        }
    }
}

/// Key-stream construction for one table of `entries` keys (indices 0..<entries of sequence `seed` are the
/// prefilled ones).
struct StreamFactory {
    let seed: UInt64
    let entries: Int

    func key(_ index: Int) -> CConnRef_Key {
        var k = CConnRef_Key()
        CConnRef_make_key(seed, UInt64(index), &k)
        return k
    }

    /// Insert workload: thread t of T inserts the keys t·E/T ..< (t+1)·E/T.
    func inserts(thread: Int, threads: Int) -> KeyBuffer {
        let lo = thread * entries / threads, hi = (thread + 1) * entries / threads
        let b = KeyBuffer(count: hi - lo, withOps: false)
        for i in lo..<hi { b.keys[i - lo] = key(i) }
        return b
    }

    /// Lookups of present keys (uniformly random among the entries) or of absent ones (indices ≥ entries).
    func lookups(thread: Int, count: Int, hits: Bool) -> KeyBuffer {
        let b = KeyBuffer(count: count, withOps: false)
        var state = splitMix(seed ^ 0x5EED_0000 ^ UInt64(thread) << 40 ^ (hits ? 0 : 1 << 39))
        for n in 0..<count {
            state &+= golden
            let r = Int(truncatingIfNeeded: splitMix(state) % UInt64(entries))
            b.keys[n] = key(hits ? r : entries + r)
        }
        return b
    }
}

/// The mixed workload's state: the live keys are exactly the indices lo ..< hi (hi - lo = entries), each thread t of
/// T owning those ≡ t (mod T). A thread's stream deletes its oldest owned key, inserts its next new one, and looks up
/// random live keys it owns — so every lookup must hit, every insert add and every delete remove, even with two
/// threads, and the results are checked. Each block of 20 operations holds exactly one insert and one delete at
/// random places (90 / 5 / 5), so after a pass every thread has advanced by the same count and the live set is again
/// a range.
struct MixedState {
    var lo = 0
    var hi: Int

    init(entries: Int) { hi = entries }

    /// Streams for `passes` passes of `opsPerPass` operations (a multiple of 40) per thread; advances the state.
    mutating func streams(factory: StreamFactory, threads: Int, opsPerPass: Int, passes: Int) -> [KeyBuffer] {
        precondition(opsPerPass % 40 == 0 && lo % threads == 0 && (hi - lo) % threads == 0)
        let total = opsPerPass * passes
        var buffers: [KeyBuffer] = []
        for t in 0..<threads {
            let b = KeyBuffer(count: total, withOps: true)
            // Owned indices: lo + t + j·T for j in [first, last).
            var first = 0, last = (hi - lo) / threads
            var state = splitMix(factory.seed ^ 0x3141_5926 ^ UInt64(t) << 40 ^ UInt64(lo) << 8)
            var block = (insertAt: 0, deleteAt: 0)
            for n in 0..<total {
                if n % 20 == 0 {
                    state &+= golden
                    let r = splitMix(state)
                    let i = Int(r % 20)
                    var d = Int((r >> 8) % 19)
                    if d >= i { d += 1 }
                    block = (i, d)
                }
                let slot = n % 20
                if slot == block.insertAt {
                    b.ops![n] = UInt8(CConnRef_OpInsert)
                    b.keys[n] = factory.key(lo + t + last * threads)
                    last += 1
                } else if slot == block.deleteAt {
                    b.ops![n] = UInt8(CConnRef_OpDelete)
                    b.keys[n] = factory.key(lo + t + first * threads)
                    first += 1
                } else {
                    state &+= golden
                    let j = first + Int(splitMix(state) % UInt64(last - first))
                    b.ops![n] = UInt8(CConnRef_OpLookup)
                    b.keys[n] = factory.key(lo + t + j * threads)
                }
            }
            buffers.append(b)
        }
        let advance = (total / 20) * threads
        lo += advance
        hi += advance
        return buffers
    }
}
