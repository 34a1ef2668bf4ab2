/// mh — Maglev hashing (net/netfilter/ipvs/ip_vs_mh.c), with the kernel's table size, keys and fill order.
///
/// **Table.** 4093 slots: `primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]` with the default (and Debian's)
/// `CONFIG_IP_VS_MH_TAB_INDEX` = 12. Each destination has a preference permutation of the slots from its address
/// and port, hashed with the kernel's fixed keys (`generate_hash_secret`): `offset = hsiphash(port + addr, hash1) %
/// 4093`, `skip = hsiphash(port + addr, hash2) % 4092 + 1` (`ip_vs_mh_permutate`; `ip_vs_mh_hashkey` with offset 0).
/// Its share is `turns = (last_weight / gcd) >> rshift`, or 1 if that is 0 but `last_weight` is not, where gcd is
/// that of all positive `last_weight`s (`ip_vs_mh_gcd_weight`) and `rshift` brings the largest `last_weight / gcd`
/// down to `IP_VS_MH_TAB_BITS` = 6 bits (`ip_vs_mh_shift_weight`). Population (`ip_vs_mh_populate`) goes round the
/// list from the head, again and again; each destination with turns ≥ 1 claims `turns` slots in a row, each the
/// next free slot of its permutation, until all 4093 are claimed. A destination with `last_weight` 0 (added with
/// weight 0) gets no slot; one quiesced to weight 0 keeps its slots (`last_weight` keeps the last non-zero weight)
/// but is unavailable. With no positive `last_weight` the table is empty (`ip_vs_mh_reset`). The table is rebuilt
/// on every add, delete and edit of a destination (`ip_vs_mh_dest_changed`).
///
/// **Pick.** The source address (plus the source port with mh-port, `IP_VS_SVC_F_SCHED_MH_PORT` = scheduler flag
/// 2) is hashed to a slot: `hsiphash(port + addr, hash1) % 4093`, an IPv6 address folded to 32 bits first
/// (`ip_vs_mh_get`). The slot's destination is returned unless it has weight ≤ 0 or is overloaded
/// (`is_unavailable`). With mh-fallback (`IP_VS_SVC_F_SCHED_MH_FALLBACK` = scheduler flag 1) the kernel then
/// rehashes with offsets `(k + slot) % 4093`, k = 0, 1, …, until it meets an available destination
/// (`ip_vs_mh_get_fallback`).
///
/// **More than 4093 destinations.** The kernel refuses to rebuild (`ip_vs_mh_reassign` returns -EINVAL, which its
/// callers ignore) and keeps the old table. We keep it too, shifting its indices as the list shifts; slots of a
/// destination deleted in that state become empty here, where the kernel would still point at the deleted one.
///
/// **Mixed families.** The kernel folds a destination's address by the *service's* family (`svc->af`). A tunnel
/// destination of the other family is therefore hashed differently: an IPv4 one on an IPv6 service still hashes
/// as its 32-bit value (the rest of `nf_inet_addr` is zero), as here; an IPv6 one on an IPv4 service hashes as its
/// first 32-bit word only, which this scheduler (not told the service's family) does not mirror.
public struct MaglevHashScheduler: SchedulingAlgorithm {
    /// `IP_VS_MH_TAB_SIZE` with `CONFIG_IP_VS_MH_TAB_INDEX` = 12.
    public static let tableSize = 4093
    /// `IP_VS_MH_TAB_BITS` = `CONFIG_IP_VS_MH_TAB_INDEX / 2`.
    public static let tableBits: Int32 = 6
    /// `generate_hash_secret`: `hash1`, which places flows and destination offsets (both key words 2654435761).
    public static let offsetKey = KernelSipHash.Key(k0: 2_654_435_761, k1: 2_654_435_761)
    /// `generate_hash_secret`: `hash2`, which gives destination skips (both key words 2654446892).
    public static let skipKey = KernelSipHash.Key(k0: 2_654_446_892, k1: 2_654_446_892)

    @usableFromInline static let noDestination = UInt16.max

    /// Slot → index into the destination list; `noDestination` for an empty slot (the kernel's NULL entry).
    @usableFromInline var lookup: [UInt16]
    @usableFromInline var flags: ServiceFlags
    /// `s->gcd`: gcd of the positive `last_weight`s, 0 if there are none.
    public private(set) var gcd: Int32
    /// `s->rshift`.
    public private(set) var rshift: Int32

    /// `init_service` = ip_vs_mh.c `ip_vs_mh_init_svc`. (With more than 4093 destinations the kernel refuses the
    /// service; the table is then left empty.)
    public init(destinations: DestinationList, flags: ServiceFlags) {
        self.flags = flags
        lookup = [UInt16](repeating: Self.noDestination, count: Self.tableSize)
        gcd = 0
        rshift = 0
        reassign(destinations, remap: { _ in Self.noDestination })
    }

    /// `add_dest` = ip_vs_mh.c `ip_vs_mh_dest_changed`.
    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        reassign(destinations, remap: { i in Int(i) >= index ? Self.checked(Int(i) + 1) : i })
    }

    /// `del_dest` = ip_vs_mh.c `ip_vs_mh_dest_changed`.
    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        reassign(destinations, remap: { i in
            Int(i) == index ? Self.noDestination : Int(i) > index ? i - 1 : i
        })
    }

    /// `upd_dest` = ip_vs_mh.c `ip_vs_mh_dest_changed`.
    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        reassign(destinations, remap: { $0 })
    }

    /// The kernel reads `svc->flags` on every pick; the table does not depend on them.
    public mutating func flagsChanged(to flags: ServiceFlags, in destinations: DestinationList) {
        self.flags = flags
    }

    /// The lookup table as list indices (`nil` for an empty slot), for inspection and tests.
    public var slotTable: [Int?] { lookup.map { $0 == Self.noDestination ? nil : Int($0) } }

    /// ip_vs_mh.c `ip_vs_mh_hashkey(…, hash1, offset) % IP_VS_MH_TAB_SIZE`: the slot a client address (and port, 0
    /// without mh-port) hashes to; `offset` is the fallback's rehash offset.
    @inlinable
    public static func slot(for address: IPAddress, port: UInt16 = 0, offset: UInt32 = 0) -> Int {
        Int(KernelSipHash.hsiphash(offset &+ UInt32(port) &+ address.folded, key: offsetKey) % UInt32(tableSize))
    }

    /// ip_vs_mh.c `ip_vs_mh_permutate`: where a destination's permutation starts and its stride.
    public static func permutation(of destination: DestinationKey) -> (offset: Int, skip: Int) {
        let v = UInt32(destination.port) &+ destination.address.folded
        let offset = KernelSipHash.hsiphash(v, key: offsetKey) % UInt32(tableSize)
        let skip = KernelSipHash.hsiphash(v, key: skipKey) % UInt32(tableSize - 1) + 1
        return (Int(offset), Int(skip))
    }

    /// ip_vs_mh.c `ip_vs_mh_schedule`: the destination for `flow`, or `nil` where the kernel finds none.
    @inlinable
    public func pick(_ flow: Flow, in destinations: DestinationList) -> Int? {
        // ip_vs_mh_get_port: the source port of TCP, UDP and SCTP packets (every protocol a Flow has).
        let key = (flags.contains(.mhPort) ? UInt32(flow.sourcePort) : 0) &+ flow.sourceAddress.folded
        let slot = Int(KernelSipHash.hsiphash(key, key: Self.offsetKey) % UInt32(Self.tableSize))
        let first = lookup[slot]
        guard first != Self.noDestination else { return nil }
        if destinations[Int(first)].isSchedulable { return Int(first) }
        guard flags.contains(.mhFallback) else { return nil }
        return fallback(slot: slot, key: key, in: destinations)
    }

    /// ip_vs_mh.c `ip_vs_mh_get_fallback`, after the first slot proved unavailable: rehash with offset
    /// `(k + slot) % 4093` for k = 0…4092; stop at an empty slot or an available destination.
    @usableFromInline
    func fallback(slot: Int, key: UInt32, in destinations: DestinationList) -> Int? {
        let m = Self.tableSize
        for k in 0..<m {
            let roffset = UInt32((k + slot) % m)
            let entry = lookup[Int(KernelSipHash.hsiphash(roffset &+ key, key: Self.offsetKey) % UInt32(m))]
            if entry == Self.noDestination { return nil }
            if destinations[Int(entry)].isSchedulable { return Int(entry) }
        }
        return nil
    }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        pick(flow, in: destinations)
    }

    // MARK: - Building the table

    /// ip_vs_mh.c `ip_vs_mh_dest_changed`: new gcd and shift, then `ip_vs_mh_reassign`. When the list is longer
    /// than the table the kernel keeps its old lookup table (-EINVAL); `remap` moves its indices with the list.
    private mutating func reassign(_ destinations: DestinationList, remap: (UInt16) -> UInt16) {
        gcd = Self.gcdWeight(destinations)
        rshift = Self.shiftWeight(destinations, gcd: gcd)
        guard destinations.count <= Self.tableSize else {
            for s in lookup.indices where lookup[s] != Self.noDestination { lookup[s] = remap(lookup[s]) }
            return
        }
        populate(destinations)
    }

    private static func checked(_ i: Int) -> UInt16 { i < Int(noDestination) ? UInt16(i) : noDestination }

    /// ip_vs_mh.c `ip_vs_mh_gcd_weight`.
    static func gcdWeight(_ destinations: DestinationList) -> Int32 {
        var g: Int32 = 0
        for d in destinations where d.lastWeight > 0 {
            if g > 0 {
                var a = d.lastWeight
                var b = g
                while b != 0 { (a, b) = (b, a % b) }
                g = a
            } else {
                g = d.lastWeight
            }
        }
        return g
    }

    /// ip_vs_mh.c `ip_vs_mh_shift_weight`: `fls(max last_weight / gcd) - IP_VS_MH_TAB_BITS`, at least 0.
    static func shiftWeight(_ destinations: DestinationList, gcd: Int32) -> Int32 {
        guard gcd >= 1 else { return 0 }
        var weight: Int32 = 0
        for d in destinations where d.lastWeight > weight { weight = d.lastWeight }
        let mw = weight / gcd
        let fls = Int32(32 - UInt32(truncatingIfNeeded: mw).leadingZeroBitCount)
        return max(fls - tableBits, 0)
    }

    /// ip_vs_mh.c `ip_vs_mh_permutate` and `ip_vs_mh_populate` (or `ip_vs_mh_reset` when gcd < 1).
    private mutating func populate(_ destinations: DestinationList) {
        let m = Self.tableSize
        guard gcd >= 1 else {
            for s in lookup.indices { lookup[s] = Self.noDestination }
            return
        }
        let n = destinations.count
        var next = [Int](repeating: 0, count: n)  // ds->perm
        var skip = [Int](repeating: 0, count: n)
        var turns = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let d = destinations[i]
            let p = Self.permutation(of: d.key)
            next[i] = p.offset
            skip[i] = p.skip
            let t = (d.lastWeight / gcd) >> rshift
            turns[i] = t != 0 ? t : (d.lastWeight != 0 ? 1 : 0)
        }
        var taken = [Bool](repeating: false, count: m)
        var filled = 0
        var run: Int32 = 0  // dt_count: slots claimed by the current destination in this pass
        while true {
            var i = 0
            while i < n {
                if turns[i] < 1 {
                    i += 1
                    continue
                }
                var c = next[i]
                while taken[c] {
                    c += skip[i]
                    if c >= m { c -= m }
                }
                next[i] = c
                taken[c] = true
                lookup[c] = UInt16(i)
                filled += 1
                if filled == m { return }
                run += 1
                if run >= turns[i] {
                    run = 0
                    i += 1
                }
            }
        }
    }
}
