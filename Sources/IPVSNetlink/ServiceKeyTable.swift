import IPVSCore

/// Finds services that a dump lists twice (the kernel repeats some when the table changes during a multi-part
/// dump): an open-addressing table of positions under a multiplicative hash of each key's fields, with keys that
/// land on the same slot compared in full. A 10 000-service dump is checked on every listing, nearly always to find
/// nothing; a `Set<ServiceKey>` hashes every key with SipHash, which the kernel VM's emulation makes dear.
public enum ServiceKeyTable {
    /// Whether two of `entries` have the same key.
    public static func hasRepeats(_ entries: [IPVSServiceEntry]) -> Bool {
        let n = entries.count
        guard n > 1 else { return false }
        // At least twice as many slots as keys, a power of two: the hash's top `bits` bits pick the slot.
        var bits = 2
        while 1 << bits < 2 * n { bits += 1 }
        let mask = (1 << bits) - 1
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 1 << bits) { slots in
            slots.initialize(repeating: -1)
            return entries.withUnsafeBufferPointer { e in
                for i in 0..<n {
                    let key = e[i].service.key
                    var at = Int(truncatingIfNeeded: (hash(key) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - bits))
                    while slots[at] >= 0 {
                        if e[Int(slots[at])].service.key == key { return true }
                        at = (at + 1) & mask
                    }
                    slots[at] = Int32(i)
                }
                return false
            }
        }
    }

    /// The key's fields folded into one word (equal keys, equal words); the multiplication above spreads them.
    @inline(__always)
    static func hash(_ key: ServiceKey) -> UInt64 {
        switch key {
        case .firewallMark(let mark, let family):
            return UInt64(mark) << 1 | (family == .inet6 ? 1 : 0)
        case .address(let p, let address, let port):
            let fields = UInt64(p.rawValue) << 48 | UInt64(port) << 32
            switch address {
            case .v4(let a): return fields ^ UInt64(a.value) ^ 0x5555
            case .v6(let a): return fields ^ a.low ^ (a.high &* 0xff51_afd7_ed55_8ccd)
            }
        }
    }
}
