import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// ipvsadm's order: libipvs's wrapping comparators through glibc's qsort. Checked against glibc's own qsort,
/// called here on the same keys with the same comparator written in C's arithmetic.
struct IPVSAdmSortOrderTests {
    static func tcp(_ address: String, _ port: UInt16 = 80) -> VirtualService {
        VirtualService(.address(.tcp, IPAddress(address)!, port: port))
    }

    @Test func addressesFarApartCompareAsIpvsadmComparesThem() {
        // 0xAC120002 - 0x0A600001 wraps to a negative int: 172.18.0.2 sorts first.
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("172.18.0.2"), Self.tcp("10.96.0.1")) < 0)
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("10.0.0.1"), Self.tcp("10.0.0.2")) < 0)
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("10.0.0.1", 80), Self.tcp("10.0.0.1", 443)) < 0)
        // Firewall marks first by mark, then IPv4 before IPv6, then TCP before UDP.
        let fwm = VirtualService(.firewallMark(1, .inet))
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("10.0.0.1"), fwm) < 0)
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("10.0.0.1"), Self.tcp("2001:db8::1")) < 0)
        let udp = VirtualService(.address(.udp, IPAddress("10.0.0.1")!, port: 80))
        #expect(IPVSAdmSortOrder.compareServices(Self.tcp("10.0.0.9"), udp) < 0)
    }

    /// Keys as libipvs holds them, padded past 32 bytes as `ipvs_service_entry_t` is, so that glibc takes the same
    /// indirect merge-sort path it takes for ipvsadm.
    struct CKey {
        var mark: UInt32
        var family: UInt16
        var ipProtocol: UInt16
        var words: (UInt32, UInt32, UInt32, UInt32)
        var port: UInt16
        var index: UInt32
        var padding: (UInt64, UInt64, UInt64) = (0, 0, 0)
    }

    static let cCompare: @convention(c) (UnsafeRawPointer?, UnsafeRawPointer?) -> Int32 = { a, b in
        let x = a!.load(as: CKey.self), y = b!.load(as: CKey.self)
        var r = Int32(truncatingIfNeeded: x.mark &- y.mark)
        if r != 0 { return r }
        r = Int32(x.family) - Int32(y.family)
        if r != 0 { return r }
        r = Int32(x.ipProtocol) - Int32(y.ipProtocol)
        if r != 0 { return r }
        let xw = [x.words.0, x.words.1, x.words.2, x.words.3], yw = [y.words.0, y.words.1, y.words.2, y.words.3]
        for i in 0..<(x.family == 10 ? 4 : 1) {
            r = Int32(truncatingIfNeeded: xw[i] &- yw[i])
            if r != 0 { return r }
        }
        return Int32(x.port) - Int32(y.port)
    }

    static func cKey(_ s: VirtualService, _ index: Int) -> CKey {
        var key = CKey(mark: 0, family: s.key.family == .inet ? 2 : 10, ipProtocol: 0, words: (0, 0, 0, 0), port: 0,
            index: UInt32(index))
        switch s.key {
        case .firewallMark(let m, _): key.mark = m
        case .address(let p, let a, let port):
            key.ipProtocol = p.rawValue
            key.port = port
            switch a {
            case .v4(let v4): key.words = (v4.value, 0, 0, 0)
            case .v6(let v6): key.words = v6.words
            }
        }
        return key
    }

    @Test(arguments: [1, 2, 3, 7, 64, 500, 3000])
    func servicesSortAsGlibcQsortSortsThem(count: Int) {
        var random = SystemRandomNumberGenerator()
        // Addresses spread over the whole space, repeated ports and marks, both families: the comparator is
        // inconsistent on such sets, so only the same algorithm gives the same order.
        let services: [VirtualService] = (0..<count).map { _ in
            switch Int.random(in: 0..<10, using: &random) {
            case 0: return VirtualService(.firewallMark(UInt32.random(in: 1...5, using: &random) << 30, .inet))
            case 1:
                return VirtualService(
                    .address(.udp, .v6(IPv6Address(high: .random(in: 0...UInt64.max, using: &random), low: 1)),
                        port: UInt16.random(in: 1...3, using: &random)))
            default:
                return VirtualService(
                    .address(
                        Bool.random(using: &random) ? .tcp : .udp,
                        .v4(IPv4Address(UInt32.random(in: 0...UInt32.max, using: &random))),
                        port: UInt16.random(in: 1...3, using: &random)))
            }
        }
        var cKeys = services.enumerated().map { Self.cKey($1, $0) }
        cKeys.withUnsafeMutableBytes { buffer in
            qsort(buffer.baseAddress!, count, MemoryLayout<CKey>.stride, Self.cCompare)
        }
        var ours = Array(services.indices)
        IPVSAdmSortOrder.mergeSort(&ours) { IPVSAdmSortOrder.compareServices(services[$0], services[$1]) }
        #expect(ours == cKeys.map { Int($0.index) })
        // The listing's sort (keys read once, a comparison type instead of a closure) gives the same order.
        #expect(IPVSAdmSortOrder.serviceOrder(services) == cKeys.map { Int($0.index) })
    }

    @Test func serversSortByAddressThenPort() {
        let a = RealServer(IPAddress("172.18.0.2")!, port: 80)
        let b = RealServer(IPAddress("10.96.0.1")!, port: 80)
        let c = RealServer(IPAddress("10.96.0.1")!, port: 79)
        var servers = [b, a, c]
        IPVSAdmSortOrder.mergeSort(&servers) { IPVSAdmSortOrder.compareServers($0, $1) }
        #expect(servers == [a, c, b])
    }
}

/// The number columns of --stats and --rate (ipvsadm.c `print_largenum`).
struct IPVSAdmNumberFormatTests {
    func line(_ value: UInt64, exact: Bool) -> String {
        var s = IPVSStatistics()
        s.connections = value
        let service = VirtualService(.firewallMark(1, .inet))
        let listing = IPVSAdmListing(format: exact ? [.stats, .exact] : [.stats], resolver: NoNames())
        let text = listing.service(IPVSAdmServiceListing(
            IPVSServiceEntry(service: service, kernelFlags: .hashed, statistics: s), []))
        let afterName = text.dropFirst(33)
        return String(afterName.prefix(afterName.count - 37))  // the first number column only
    }

    @Test func largeNumbersAreAbbreviatedAtIpvsadmsThresholds() {
        #expect(line(99_999_999, exact: false) == " 99999999")
        #expect(line(100_000_000, exact: false) == "  100000K")
        #expect(line(999_999_999, exact: false) == "  999999K")
        #expect(line(1_000_000_000, exact: false) == "    1000M")
        #expect(line(99_999_999_999, exact: false) == "   99999M")
        #expect(line(100_000_000_000, exact: false) == "     100G")
        #expect(line(100_000_000_000_000, exact: false) == "     100T")
    }

    @Test func exactNumbersWidenTheirColumn() {
        #expect(line(12_345_678, exact: true) == " 12345678")
        #expect(line(123_456_789, exact: true) == " 123456789")
        #expect(line(UInt64.max, exact: true) == " 18446744073709551615")
    }
}
