/// dh — destination hashing (net/netfilter/ipvs/ip_vs_dh.c).
///
/// The kernel keeps a 256-bucket table (`IP_VS_DH_TAB_BITS` = `CONFIG_IP_VS_DH_TAB_BITS`, default 8). It fills it by
/// walking the destination list from the head, one destination per bucket, wrapping round the list until every
/// bucket is set (`ip_vs_dh_reassign`); so bucket `b` holds destination `b % N`, and with more than 256
/// destinations only the first 256 in list order have a bucket. The table is rebuilt when a destination is added
/// or deleted (`add_dest` / `del_dest` = `ip_vs_dh_dest_changed`); dh has no `upd_dest`, as weights do not shape it.
///
/// A packet is hashed by its *destination* address (`ip_vs_dh_hashkey`: `hash_32(ntohl(addr), 8)`, an IPv6 address
/// folded to 32 bits first). The bucket's destination is returned only if it is available, has a positive weight
/// and is not overloaded; otherwise there is no fallback and the pick fails (`ip_vs_dh_schedule`).
///
/// Kernel history: Linux 6.1 hashes with `hash_32` (the top 8 bits of `addr * GOLDEN_RATIO_32`). Kernels before the
/// conversion to `hash_32` took the low 8 bits of `addr * 2654435761`; that older form is not mirrored here.
public struct DestinationHashScheduler: SchedulingAlgorithm {
    /// `IP_VS_DH_TAB_BITS`.
    public static let tableBits = 8
    /// `IP_VS_DH_TAB_SIZE`.
    public static let tableSize = 1 << tableBits

    @usableFromInline static let noDestination = UInt16.max

    /// Bucket → index into the destination list; `noDestination` when the list is empty (the kernel's NULL bucket).
    @usableFromInline var buckets: [UInt16]

    /// `init_service` = ip_vs_dh.c `ip_vs_dh_init_svc`.
    public init(destinations: DestinationList, flags: ServiceFlags) {
        buckets = Self.assign(destinations)
    }

    /// `add_dest` = ip_vs_dh.c `ip_vs_dh_dest_changed`.
    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        buckets = Self.assign(destinations)
    }

    /// `del_dest` = ip_vs_dh.c `ip_vs_dh_dest_changed`.
    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        buckets = Self.assign(destinations)
    }

    /// The bucket table as list indices (`nil` for an empty bucket), for inspection and tests.
    public var bucketTable: [Int?] { buckets.map { $0 == Self.noDestination ? nil : Int($0) } }

    /// ip_vs_dh.c `ip_vs_dh_hashkey`: the bucket a packet to `address` hashes to.
    @inlinable
    public static func bucket(for address: IPAddress) -> Int {
        Int(hash32(address.folded))
    }

    /// include/linux/hash.h `hash_32(val, IP_VS_DH_TAB_BITS)` (the generic version x86-64 uses): the top bits of
    /// `val * GOLDEN_RATIO_32`.
    @inlinable
    static func hash32(_ value: UInt32) -> UInt32 {
        (value &* 0x61C8_8647) >> UInt32(32 - tableBits)
    }

    /// ip_vs_dh.c `ip_vs_dh_schedule`: the destination for `flow`, or `nil` where the kernel finds none.
    @inlinable
    public func pick(_ flow: Flow, in destinations: DestinationList) -> Int? {
        let entry = buckets[Self.bucket(for: flow.destinationAddress)]
        guard entry != Self.noDestination else { return nil }
        let i = Int(entry)
        // Every destination in the list has IP_VS_DEST_F_AVAILABLE; the table is rebuilt whenever one leaves it.
        return destinations[i].isSchedulable ? i : nil
    }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        pick(flow, in: destinations)
    }

    /// ip_vs_dh.c `ip_vs_dh_reassign`: bucket `b` gets the `b`-th destination walking round the list from the head.
    static func assign(_ destinations: DestinationList) -> [UInt16] {
        let n = destinations.count
        guard n > 0 else { return [UInt16](repeating: noDestination, count: tableSize) }
        return (0..<tableSize).map { UInt16($0 % n) }
    }
}
