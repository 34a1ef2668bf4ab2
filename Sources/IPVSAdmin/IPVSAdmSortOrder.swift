import IPVSCore
import IPVSNetlink

/// The order ipvsadm lists services and real servers in.
///
/// libipvs's comparators (`ipvs_cmp_services`, `ipvs_cmp_dests`) subtract unsigned 32-bit values and return the
/// difference as an `int`, so addresses more than 2^31 apart compare the "wrong" way (172.18.0.2 before
/// 10.96.0.1), and the relation is not even transitive. The order printed is therefore whatever glibc's `qsort`
/// makes of it: glibc 2.36 sorts with a top-down merge sort (stdlib/msort.c `msort_with_tmp`: halves of n/2 and
/// n - n/2, the left element taken while the comparison is <= 0), which ``mergeSort(_:by:)`` replays step for step.
public enum IPVSAdmSortOrder {
    /// `ipvs_cmp_services`: firewall mark, address family, protocol, address (32-bit words, most significant first),
    /// port. A firewall-mark service has protocol, address and port 0 (the kernel does not send them).
    public static func compareServices(_ a: VirtualService, _ b: VirtualService) -> Int32 {
        compareKeys(SortKey(a.key), SortKey(b.key))
    }

    /// The positions of `services` in ipvsadm's order: `ipvs_cmp_services` through glibc's merge sort, as
    /// ``mergeSort(_:by:)`` over the services themselves, but the keys are read once and only indices move (a
    /// 10 000-service listing compares about 130 000 times).
    public static func serviceOrder(_ services: [VirtualService]) -> [Int] {
        let keys = services.map { SortKey($0.key) }
        return [Int](unsafeUninitializedCapacity: services.count) { order, count in
            keys.withUnsafeBufferPointer { keys in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: keys.count) { scratch in
                    sortPositions(order, scratch: scratch, ServiceKeyComparison(keys: keys))
                }
            }
            count = keys.count
        }
    }

    @inline(__always)
    static func compareKeys(_ ka: SortKey, _ kb: SortKey) -> Int32 {
        var r = Int32(truncatingIfNeeded: ka.mark &- kb.mark)
        if r != 0 { return r }
        r = ka.family - kb.family
        if r != 0 { return r }
        r = ka.ipProtocol - kb.ipProtocol
        if r != 0 { return r }
        r = compareWords(ka.words, kb.words, wordCount: ka.family == familyINET6 ? 4 : 1)
        if r != 0 { return r }
        return ka.port - kb.port
    }

    /// `ipvs_cmp_dests`: address then port; the first server's family decides how many words are compared (a
    /// tunnel server may be of the other family; its address is then read as the union's words).
    public static func compareServers(_ a: RealServer, _ b: RealServer) -> Int32 {
        compareServerKeys(ServerKey(a), ServerKey(b))
    }

    /// glibc 2.36 `qsort` (msort.c): a stable top-down merge sort; with a consistent comparator it is any stable
    /// sort, with libipvs's inconsistent one it is the only order that matches ipvsadm's.
    public static func mergeSort<T>(_ items: inout [T], by compare: (T, T) -> Int32) {
        guard items.count > 1 else { return }
        var scratch = items
        withoutActuallyEscaping(compare) { compare in
            items.withUnsafeMutableBufferPointer { buffer in
                scratch.withUnsafeMutableBufferPointer { tmp in
                    sort(buffer, 0, buffer.count, tmp, ClosureComparison(body: compare))
                }
            }
        }
    }

    /// ``mergeSort(_:by:)`` of the positions `0..<order.count`, written into `order` (uninitialised memory is
    /// fine), with `scratch` (at least as long) as the merge's temporary: only indices move, nothing is allocated,
    /// and the comparison is a type the compiler sees (no closure call per comparison).
    static func sortPositions<C: MergeComparison>(
        _ order: UnsafeMutableBufferPointer<Int>, scratch: UnsafeMutableBufferPointer<Int>, _ comparison: C
    ) where C.Element == Int {
        precondition(scratch.count >= order.count)
        for i in order.indices { (order.baseAddress! + i).initialize(to: i) }
        scratch.initialize(repeating: 0)
        sort(order, 0, order.count, scratch, comparison)
    }

    /// The order of real servers whose `ipvs_cmp_dests` keys are `keys`, as positions into `order` (see
    /// ``sortPositions(_:scratch:_:)``).
    static func serverOrder(
        _ keys: UnsafeBufferPointer<ServerKey>, into order: UnsafeMutableBufferPointer<Int>,
        scratch: UnsafeMutableBufferPointer<Int>
    ) {
        sortPositions(order, scratch: scratch, ServerKeyComparison(keys: keys))
    }

    private static func sort<T, C: MergeComparison>(
        _ b: UnsafeMutableBufferPointer<T>, _ start: Int, _ n: Int, _ tmp: UnsafeMutableBufferPointer<T>,
        _ comparison: C
    ) where C.Element == T {
        if n <= 1 { return }
        let n1 = n / 2
        let n2 = n - n1
        sort(b, start, n1, tmp, comparison)
        sort(b, start + n1, n2, tmp, comparison)
        var i = start, j = start + n1, k = 0
        var left = n1, right = n2
        while left > 0 && right > 0 {
            if comparison.compare(b[i], b[j]) <= 0 {
                tmp[k] = b[i]
                i += 1
                left -= 1
            } else {
                tmp[k] = b[j]
                j += 1
                right -= 1
            }
            k += 1
        }
        while left > 0 {
            tmp[k] = b[i]
            i += 1
            k += 1
            left -= 1
        }
        // What is left of the right half is already in place.
        for m in 0..<k { b[start + m] = tmp[m] }
    }

    // MARK: - The fields as libipvs holds them

    /// A real server's `ipvs_cmp_dests` fields, read once: its address words, port, and how many words it
    /// compares (``compareServers(_:_:)``).
    struct ServerKey {
        var words: (UInt32, UInt32, UInt32, UInt32)
        var port: UInt16
        var wordCount: Int

        init(_ server: RealServer) {
            words = IPVSAdmSortOrder.words(server.address)
            port = server.port
            wordCount = server.address.family == .inet6 ? 4 : 1
        }
    }

    /// ``compareServers(_:_:)`` on keys read once.
    @inline(__always)
    static func compareServerKeys(_ a: ServerKey, _ b: ServerKey) -> Int32 {
        let r = compareWords(a.words, b.words, wordCount: a.wordCount)
        if r != 0 { return r }
        return Int32(a.port) - Int32(b.port)
    }

    static let familyINET: Int32 = 2
    static let familyINET6: Int32 = 10

    struct SortKey {
        var mark: UInt32 = 0
        var family: Int32
        var ipProtocol: Int32 = 0
        var words: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        var port: Int32 = 0

        init(_ key: ServiceKey) {
            family = key.family == .inet ? familyINET : familyINET6
            switch key {
            case .firewallMark(let m, _): mark = m
            case .address(let p, let a, let port):
                ipProtocol = Int32(p.rawValue)
                words = IPVSAdmSortOrder.words(a)
                self.port = Int32(port)
            }
        }
    }

    /// The address as the four 32-bit words of `union nf_inet_addr`, host order; IPv4 in the first word.
    static func words(_ a: IPAddress) -> (UInt32, UInt32, UInt32, UInt32) {
        switch a {
        case .v4(let v4): return (v4.value, 0, 0, 0)
        case .v6(let v6): return v6.words
        }
    }

    @inline(__always)
    static func compareWords(
        _ a: (UInt32, UInt32, UInt32, UInt32), _ b: (UInt32, UInt32, UInt32, UInt32), wordCount: Int
    ) -> Int32 {
        var r = Int32(truncatingIfNeeded: a.0 &- b.0)
        if r != 0 || wordCount == 1 { return r }
        r = Int32(truncatingIfNeeded: a.1 &- b.1)
        if r != 0 { return r }
        r = Int32(truncatingIfNeeded: a.2 &- b.2)
        if r != 0 { return r }
        return Int32(truncatingIfNeeded: a.3 &- b.3)
    }
}

/// How the merge sort compares two elements: a type, so that a specialised sort calls it directly (a closure costs
/// an indirect call per comparison, which the kernel VM's emulation makes dear: a 10 000-service listing sorts its
/// real servers with about 250 000 comparisons).
protocol MergeComparison {
    associatedtype Element
    func compare(_ a: Element, _ b: Element) -> Int32
}

struct ClosureComparison<Element>: MergeComparison {
    let body: (Element, Element) -> Int32
    @inline(__always)
    func compare(_ a: Element, _ b: Element) -> Int32 { body(a, b) }
}

/// Positions of services, compared by their keys.
struct ServiceKeyComparison: MergeComparison {
    let keys: UnsafeBufferPointer<IPVSAdmSortOrder.SortKey>
    @inline(__always)
    func compare(_ a: Int, _ b: Int) -> Int32 { IPVSAdmSortOrder.compareKeys(keys[a], keys[b]) }
}

/// Positions of real servers, compared by their keys.
struct ServerKeyComparison: MergeComparison {
    let keys: UnsafeBufferPointer<IPVSAdmSortOrder.ServerKey>
    @inline(__always)
    func compare(_ a: Int, _ b: Int) -> Int32 { IPVSAdmSortOrder.compareServerKeys(keys[a], keys[b]) }
}
