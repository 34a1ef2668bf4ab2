import IPVSCore
import Testing

/// Expected values are worked out from the kernel's algorithm (ip_vs_dh.c, Linux 6.1), not taken from our output:
///
/// - Bucket of a packet = `hash_32(ntohl(daddr), 8)` = `(addr · 0x61C88647 mod 2³²) >> 24` (include/linux/hash.h,
///   GOLDEN_RATIO_32). By hand, writing G = 0x61C88647:
///     0.0.0.1     = 0x00000001: G                                          = 0x61C88647 → 0x61 =  97
///     10.0.0.1    = 0x0A000001: (10·G mod 2⁸)·2²⁴ + G = 0xC6000000 + G     = 0x27C88647 → 0x27 =  39
///     10.0.0.2    = 0x0A000002: 0xC6000000 + 2G = 0xC6000000 + 0xC3910C8E  = 0x89910C8E → 0x89 = 137
///     10.0.0.3    = 0x0A000003: 0xC6000000 + 3G = 0xC6000000 + 0x255992D5  = 0xEB5992D5 → 0xEB = 235
///     192.168.0.1 = 0xC0A80001: (0xC0A8·G mod 2¹⁶)·2¹⁶ + G                  = 0xC0608647 → 0xC0 = 192
///     2001:db8::1 folds to 0x20010DB8 ^ 0 ^ 0 ^ 0x00000001 = 0x20010DB9    → 0x3F01A44F → 0x3F =  63
/// - Table: `ip_vs_dh_reassign` walks round the list from the head, one destination per bucket, so bucket b holds
///   list index b mod N (N ≤ 256), and index b when N > 256.
/// - List order: the kernel adds at the head, so servers added A, B, C are listed [C, B, A].
@Suite("dh scheduler (ip_vs_dh.c)")
struct DestinationHashSchedulerTests {
    private static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    private static func real(_ a: String, weight: Int32 = 1, port: UInt16 = 80) -> RealServer {
        RealServer(ip(a), port: port, forwarding: .masquerade, weight: weight)
    }

    /// A firewall-mark service, so that packets can be sent to many destination addresses.
    private static func service(_ servers: [RealServer], family: AddressFamily = .inet) -> ServiceScheduler {
        try! ServiceScheduler(VirtualService(.firewallMark(1, family), scheduler: .dh), servers: servers)
    }

    private static func packet(to destination: String, from source: String = "192.0.2.7") -> Flow {
        Flow(.tcp, from: ip(source), port: 33333, to: ip(destination), port: 80)
    }

    private static func pick(_ s: inout ServiceScheduler, to destination: String, from source: String = "192.0.2.7")
        -> String?
    {
        s.schedule(packet(to: destination, from: source)).map { s.destinations[$0].server.address.description }
    }

    @Test("A packet's bucket is hash_32 of its destination address, folded for IPv6", arguments: [
        ("0.0.0.1", 97), ("10.0.0.1", 39), ("10.0.0.2", 137), ("10.0.0.3", 235), ("192.168.0.1", 192),
        ("2001:db8::1", 63),
    ])
    func bucketOfAddress(address: String, bucket: Int) {
        #expect(DestinationHashScheduler.bucket(for: Self.ip(address)) == bucket)
    }

    @Test("Bucket b holds list index b mod N; an empty list leaves every bucket empty")
    func tableLayout() {
        let list = DestinationList(kernelOrder: ["10.0.1.3", "10.0.1.2", "10.0.1.1"].map {
            DestinationState(Self.real($0))
        })
        let dh = DestinationHashScheduler(destinations: list, flags: [])
        #expect(dh.bucketTable == (0..<256).map { $0 % 3 })
        let empty = DestinationHashScheduler(destinations: DestinationList(), flags: [])
        #expect(empty.bucketTable == [Int?](repeating: nil, count: 256))
        #expect(empty.pick(Self.packet(to: "10.0.0.1"), in: DestinationList()) == nil)
    }

    @Test("Picks follow the destination address, in kernel list order (last added first)")
    func picksByDestinationAddress() {
        // Added 10.0.1.1, .2, .3 → list [.3, .2, .1].
        var s = Self.service(["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) })
        // 10.0.0.1 → bucket 39 → 39 mod 3 = 0 → .3; 10.0.0.2 → 137 mod 3 = 2 → .1; 10.0.0.3 → 235 mod 3 = 1 → .2;
        // 192.168.0.1 → 192 mod 3 = 0 → .3.
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.3")
        #expect(Self.pick(&s, to: "10.0.0.2") == "10.0.1.1")
        #expect(Self.pick(&s, to: "10.0.0.3") == "10.0.1.2")
        #expect(Self.pick(&s, to: "192.168.0.1") == "10.0.1.3")
        // The source address plays no part.
        for source in ["192.0.2.1", "198.51.100.9", "203.0.113.200"] {
            #expect(Self.pick(&s, to: "10.0.0.2", from: source) == "10.0.1.1")
        }
    }

    @Test("Weights do not shape the table")
    func weightsIgnoredForLayout() {
        var s = Self.service([Self.real("10.0.1.1", weight: 1), Self.real("10.0.1.2", weight: 1),
                              Self.real("10.0.1.3", weight: 50)])
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.3")
        #expect(Self.pick(&s, to: "10.0.0.2") == "10.0.1.1")
        #expect(Self.pick(&s, to: "10.0.0.3") == "10.0.1.2")
    }

    @Test("A quiesced or overloaded destination fails the pick: dh has no fallback")
    func unavailableDestinationFails() throws {
        var s = Self.service(["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) })
        try s.editDestination(Self.real("10.0.1.3", weight: 0))
        #expect(Self.pick(&s, to: "10.0.0.1") == nil)  // bucket 39 → .3, weight 0
        #expect(Self.pick(&s, to: "10.0.0.2") == "10.0.1.1")  // other buckets unaffected
        try s.editDestination(Self.real("10.0.1.3", weight: 1))
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.3")
        s.setCounters(of: DestinationKey(address: Self.ip("10.0.1.2"), port: 80), active: 0, inactive: 0,
                      overloaded: true)
        #expect(Self.pick(&s, to: "10.0.0.3") == nil)  // bucket 235 → .2, overloaded
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.3")
    }

    @Test("Adding (at the head) and removing a destination rebuild the table")
    func rebuildOnAddAndRemove() throws {
        var s = Self.service(["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) })
        try s.addDestination(Self.real("10.0.1.4"))
        // List [.4, .3, .2, .1]: 39 mod 4 = 3 → .1; 137 mod 4 = 1 → .3; 235 mod 4 = 3 → .1; 192 mod 4 = 0 → .4.
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.1")
        #expect(Self.pick(&s, to: "10.0.0.2") == "10.0.1.3")
        #expect(Self.pick(&s, to: "10.0.0.3") == "10.0.1.1")
        #expect(Self.pick(&s, to: "192.168.0.1") == "10.0.1.4")
        try s.removeDestination(DestinationKey(address: Self.ip("10.0.1.3"), port: 80))
        // List [.4, .2, .1]: 39 mod 3 = 0 → .4; 137 mod 3 = 2 → .1; 235 mod 3 = 1 → .2.
        #expect(Self.pick(&s, to: "10.0.0.1") == "10.0.1.4")
        #expect(Self.pick(&s, to: "10.0.0.2") == "10.0.1.1")
        #expect(Self.pick(&s, to: "10.0.0.3") == "10.0.1.2")
        for key in s.destinations.map(\.key) { try s.removeDestination(key) }
        #expect(Self.pick(&s, to: "10.0.0.1") == nil)
    }

    @Test("IPv6 destination addresses are folded to 32 bits before hashing")
    func ipv6Folding() {
        var s = Self.service(["2001:db8::a", "2001:db8::b", "2001:db8::c"].map { Self.real($0) }, family: .inet6)
        // 2001:db8::1 → bucket 63 → 63 mod 3 = 0 → the head, 2001:db8::c.
        #expect(Self.pick(&s, to: "2001:db8::1") == "2001:db8::c")
        // All four words are folded: ::2001:db8:0:1 has the words 0, 0, 0x20010DB8, 0x00000001, which fold to
        // 0x20010DB9 as 2001:db8::1 does, so it lands in the same bucket.
        #expect(DestinationHashScheduler.bucket(for: Self.ip("::2001:db8:0:1")) == 63)
        #expect(Self.pick(&s, to: "::2001:db8:0:1") == "2001:db8::c")
    }

    @Test("With more than 256 destinations only the first 256 in list order have a bucket")
    func moreDestinationsThanBuckets() {
        let list = DestinationList(kernelOrder: (0..<300).map { i in
            DestinationState(Self.real("10.1.\(i / 256).\(i % 256)"))
        })
        let dh = DestinationHashScheduler(destinations: list, flags: [])
        #expect(dh.bucketTable == (0..<256).map { $0 })
        #expect(dh.pick(Self.packet(to: "10.0.0.3"), in: list) == 235)
    }
}
