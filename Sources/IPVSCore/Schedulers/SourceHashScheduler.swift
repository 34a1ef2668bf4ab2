/// sh — source hashing (net/netfilter/ipvs/ip_vs_sh.c).
///
/// The kernel keeps a 256-bucket table (`IP_VS_SH_TAB_BITS` = `CONFIG_IP_VS_SH_TAB_BITS`, default 8), filled by
/// walking the destination list from the head and giving each destination as many consecutive buckets as its
/// *current* weight, wrapping round the list until every bucket is set (`ip_vs_sh_reassign`). A destination of
/// weight 0 still gets one bucket (the "filled its weight" test `++count >= weight` is already true after one). The
/// table is rebuilt on every add, delete and edit of a destination (`ip_vs_sh_dest_changed`).
///
/// A packet hashes by its source address, plus its source port with sh-port (`IP_VS_SVC_F_SCHED_SH_PORT` =
/// scheduler flag 2): `hash_32(ntohs(port) + ntohl(addr), 8)`, an IPv6 address folded to 32 bits first
/// (`ip_vs_sh_hashkey`). The bucket's destination is returned unless it has weight ≤ 0 or is overloaded
/// (`is_unavailable`). With sh-fallback (`IP_VS_SVC_F_SCHED_SH_FALLBACK` = scheduler flag 1) an unavailable one is
/// replaced by walking the table (`ip_vs_sh_get_fallback`); without it the pick fails (`ip_vs_sh_get`).
public struct SourceHashScheduler: SchedulingAlgorithm {
    /// `IP_VS_SH_TAB_BITS`.
    public static let tableBits = 8
    /// `IP_VS_SH_TAB_SIZE`.
    public static let tableSize = 1 << tableBits

    @usableFromInline static let noDestination = UInt16.max

    /// Bucket → index into the destination list; `noDestination` when the list is empty (the kernel's NULL bucket).
    @usableFromInline var buckets: [UInt16]
    @usableFromInline var flags: ServiceFlags

    /// `init_service` = ip_vs_sh.c `ip_vs_sh_init_svc`.
    public init(destinations: DestinationList, flags: ServiceFlags) {
        buckets = Self.assign(destinations)
        self.flags = flags
    }

    /// `add_dest` = ip_vs_sh.c `ip_vs_sh_dest_changed`.
    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        buckets = Self.assign(destinations)
    }

    /// `del_dest` = ip_vs_sh.c `ip_vs_sh_dest_changed`.
    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        buckets = Self.assign(destinations)
    }

    /// `upd_dest` = ip_vs_sh.c `ip_vs_sh_dest_changed`: a new weight changes the layout.
    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        buckets = Self.assign(destinations)
    }

    /// The kernel reads `svc->flags` on every pick; the table does not depend on them.
    public mutating func flagsChanged(to flags: ServiceFlags, in destinations: DestinationList) {
        self.flags = flags
    }

    /// The bucket table as list indices (`nil` for an empty bucket), for inspection and tests.
    public var bucketTable: [Int?] { buckets.map { $0 == Self.noDestination ? nil : Int($0) } }

    /// ip_vs_sh.c `ip_vs_sh_hashkey` with offset 0: the bucket a client address (and port, 0 without sh-port)
    /// hashes to.
    @inlinable
    public static func bucket(for address: IPAddress, port: UInt16 = 0) -> Int {
        Int(hash32(UInt32(port) &+ address.folded))
    }

    /// include/linux/hash.h `hash_32(val, IP_VS_SH_TAB_BITS)` (the generic version x86-64 uses): the top bits of
    /// `val * GOLDEN_RATIO_32`.
    @inlinable
    static func hash32(_ value: UInt32) -> UInt32 {
        (value &* 0x61C8_8647) >> UInt32(32 - tableBits)
    }

    /// ip_vs_sh.c `ip_vs_sh_schedule`: the destination for `flow`, or `nil` where the kernel finds none.
    @inlinable
    public func pick(_ flow: Flow, in destinations: DestinationList) -> Int? {
        // ip_vs_sh_get_port: the source port of TCP, UDP and SCTP packets (every protocol a Flow has).
        let port = flags.contains(.shPort) ? flow.sourcePort : 0
        let hash = Self.bucket(for: flow.sourceAddress, port: port)
        let first = buckets[hash]
        guard first != Self.noDestination else { return nil }
        if destinations[Int(first)].isSchedulable { return Int(first) }
        guard flags.contains(.shFallback) else { return nil }
        return fallback(hash: hash, in: destinations)
    }

    /// ip_vs_sh.c `ip_vs_sh_get_fallback`, after the first bucket proved unavailable. For offset 0…255 the kernel
    /// takes `roffset = (offset + ihash) % 256` and looks at bucket `ip_vs_sh_hashkey(addr, port, roffset)` =
    /// `(roffset + ihash) & 255`: the walk starts at bucket `2·ihash mod 256`, not at `ihash + 1`, and visits every
    /// bucket once.
    @usableFromInline
    func fallback(hash: Int, in destinations: DestinationList) -> Int? {
        let mask = Self.tableSize - 1
        for offset in 0..<Self.tableSize {
            let roffset = (offset + hash) & mask
            let entry = buckets[(roffset + hash) & mask]
            if entry == Self.noDestination { return nil }
            if destinations[Int(entry)].isSchedulable { return Int(entry) }
        }
        return nil
    }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        pick(flow, in: destinations)
    }

    /// ip_vs_sh.c `ip_vs_sh_reassign`: consecutive buckets for each destination, as many as its weight (at least
    /// one), round the list from the head until all 256 are set.
    static func assign(_ destinations: DestinationList) -> [UInt16] {
        var table = [UInt16](repeating: noDestination, count: tableSize)
        let n = destinations.count
        guard n > 0 else { return table }
        var d = 0
        var count: Int32 = 0
        for b in 0..<tableSize {
            table[b] = UInt16(d)
            count += 1
            if count >= destinations[d].weight {
                d = d + 1 == n ? 0 : d + 1
                count = 0
            }
        }
        return table
    }
}
