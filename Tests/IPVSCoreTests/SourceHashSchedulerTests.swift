import IPVSCore
import Testing

/// Expected values are worked out from the kernel's algorithm (ip_vs_sh.c, Linux 6.1), not taken from our output:
///
/// - Bucket of a client = `hash_32(ntohs(port) + ntohl(saddr), 8)` = `(v · 0x61C88647 mod 2³²) >> 24`, port 0
///   without sh-port (include/linux/hash.h, GOLDEN_RATIO_32). By hand, with G = 0x61C88647:
///     10.0.0.1          v = 0x0A000001: 0xC6000000 + G   = 0x27C88647 → 0x27 =  39
///     10.0.0.2          v = 0x0A000002: 0xC6000000 + 2G  = 0x89910C8E → 0x89 = 137
///     10.0.0.3          v = 0x0A000003: 0xC6000000 + 3G  = 0xEB5992D5 → 0xEB = 235
///     10.0.0.4          v = 0x0A000004: 0xC6000000 + 4G  = 0x4D22191C → 0x4D =  77
///     192.168.0.1       v = 0xC0A80001:                  = 0xC0608647 → 0xC0 = 192
///     192.168.0.1:40000 v = 0xC0A80001 + 0x9C40 = 0xC0A89C41 → 0x64555C07 → 0x64 = 100
///     192.168.0.1:40001 v = 0xC0A89C42                   → 0xC61DE24E → 0xC6 = 198
///     10.0.0.1:1        v = 0x0A000002 (port and address are *added*) → 137, as 10.0.0.2:0
///     2001:db8::1       v = 0x20010DB8 ^ 0 ^ 0 ^ 1 = 0x20010DB9 → 0x3F01A44F → 0x3F = 63
///     2001:db8::a00:1   v = 0x20010DB8 ^ 0x0A000001 = 0x2A010DB9 → 0x0501A44F → 0x05 =  5
///   (0xC6000000 is 0x0A000000·G mod 2³² = (10 · 0x47 mod 2⁸) · 2²⁴.)
/// - Table: `ip_vs_sh_reassign` gives each destination, walking round the list from the head, as many consecutive
///   buckets as its weight (one if its weight is 0). So weights [3, 1] give the pattern 0 0 0 1 repeated.
/// - Fallback (`ip_vs_sh_get_fallback`): for k = 0…255 it looks at bucket `((k + h) mod 256 + h) mod 256`, i.e.
///   it starts at 2h mod 256.
/// - List order: the kernel adds at the head, so servers added A, B, C are listed [C, B, A].
@Suite("sh scheduler (ip_vs_sh.c)")
struct SourceHashSchedulerTests {
    private static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    private static func real(_ a: String, weight: Int32 = 1) -> RealServer {
        RealServer(ip(a), port: 80, forwarding: .masquerade, weight: weight)
    }

    private static func key(_ a: String) -> DestinationKey { DestinationKey(address: ip(a), port: 80) }

    private static func service(_ servers: [RealServer], flags: ServiceFlags = [], vip: String = "10.0.0.100")
        -> ServiceScheduler
    {
        try! ServiceScheduler(VirtualService(.address(.tcp, ip(vip), port: 80), scheduler: .sh, flags: flags),
                              servers: servers)
    }

    private static func pick(_ s: inout ServiceScheduler, from client: String, port: UInt16 = 40000) -> String? {
        let vip: IPAddress = client.contains(":") ? ip("2001:db8::100") : ip("10.0.0.100")
        return s.schedule(Flow(.tcp, from: ip(client), port: port, to: vip, port: 80))
            .map { s.destinations[$0].server.address.description }
    }

    @Test("A client's bucket is hash_32 of port + address, the IPv6 address folded", arguments: [
        ("10.0.0.1", 0 as UInt16, 39), ("10.0.0.2", 0, 137), ("10.0.0.3", 0, 235), ("10.0.0.4", 0, 77),
        ("192.168.0.1", 0, 192), ("192.168.0.1", 40000, 100), ("192.168.0.1", 40001, 198), ("10.0.0.1", 1, 137),
        ("2001:db8::1", 0, 63), ("2001:db8::a00:1", 0, 5),
    ])
    func bucketOfClient(address: String, port: UInt16, bucket: Int) {
        #expect(SourceHashScheduler.bucket(for: Self.ip(address), port: port) == bucket)
    }

    @Test("Weights [3, 1] fill the buckets 0 0 0 1 0 0 0 1 …")
    func weightedLayout() {
        let list = DestinationList(kernelOrder: [DestinationState(Self.real("10.0.1.1", weight: 3)),
                                                 DestinationState(Self.real("10.0.1.2", weight: 1))])
        let sh = SourceHashScheduler(destinations: list, flags: [])
        #expect(sh.bucketTable == (0..<256).map { $0 % 4 < 3 ? 0 : 1 })
    }

    @Test("A weight-0 destination still gets one bucket; a weight above 255 takes every bucket")
    func zeroAndHugeWeights() {
        let quiesced = DestinationList(kernelOrder: [DestinationState(Self.real("10.0.1.1", weight: 0)),
                                                     DestinationState(Self.real("10.0.1.2", weight: 2))])
        #expect(SourceHashScheduler(destinations: quiesced, flags: []).bucketTable
            == (0..<256).map { $0 % 3 == 0 ? 0 : 1 })
        let heavy = DestinationList(kernelOrder: [DestinationState(Self.real("10.0.1.1", weight: 300)),
                                                  DestinationState(Self.real("10.0.1.2", weight: 1))])
        #expect(SourceHashScheduler(destinations: heavy, flags: []).bucketTable == [Int?](repeating: 0, count: 256))
        let empty = SourceHashScheduler(destinations: DestinationList(), flags: [.shFallback])
        #expect(empty.bucketTable == [Int?](repeating: nil, count: 256))
        #expect(empty.pick(Flow(.tcp, from: Self.ip("10.0.0.1"), port: 1, to: Self.ip("10.0.0.100"), port: 80),
                           in: DestinationList()) == nil)
    }

    @Test("Picks follow the source address and the weighted layout, in kernel list order")
    func weightedPicks() {
        // Added .2 (weight 1) then .1 (weight 3) → list [.1 w3, .2 w1], pattern 0 0 0 1.
        var s = Self.service([Self.real("10.0.1.2", weight: 1), Self.real("10.0.1.1", weight: 3)])
        // 39 mod 4 = 3 → .2; 137 mod 4 = 1 → .1; 235 mod 4 = 3 → .2; 192 mod 4 = 0 → .1.
        #expect(Self.pick(&s, from: "10.0.0.1") == "10.0.1.2")
        #expect(Self.pick(&s, from: "10.0.0.2") == "10.0.1.1")
        #expect(Self.pick(&s, from: "10.0.0.3") == "10.0.1.2")
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.1")
        // Without sh-port the source port plays no part.
        for port: UInt16 in [1, 1024, 40001, 65535] {
            #expect(Self.pick(&s, from: "10.0.0.1", port: port) == "10.0.1.2")
        }
    }

    @Test("sh-port (scheduler flag 2) adds the source port to the address before hashing")
    func shPort() {
        let servers = ["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) }  // list [.3, .2, .1]
        var plain = Self.service(servers)
        var withPort = Self.service(servers, flags: .shPort)
        // Without the port 192.168.0.1 → 192 mod 3 = 0 → .3 whatever its port.
        #expect(Self.pick(&plain, from: "192.168.0.1", port: 40000) == "10.0.1.3")
        #expect(Self.pick(&plain, from: "192.168.0.1", port: 40001) == "10.0.1.3")
        // With it: :40000 → 100 mod 3 = 1 → .2; :40001 → 198 mod 3 = 0 → .3.
        #expect(Self.pick(&withPort, from: "192.168.0.1", port: 40000) == "10.0.1.2")
        #expect(Self.pick(&withPort, from: "192.168.0.1", port: 40001) == "10.0.1.3")
        // 10.0.0.1:1 hashes like 10.0.0.2 without port: 137 mod 3 = 2 → .1.
        #expect(Self.pick(&withPort, from: "10.0.0.1", port: 1) == "10.0.1.1")
        #expect(Self.pick(&plain, from: "10.0.0.2", port: 1) == "10.0.1.1")
    }

    @Test("Without sh-fallback an unavailable destination fails the pick; with it the walk starts at 2h mod 256")
    func fallbackWalk() throws {
        let servers = ["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) }  // list [.3, .2, .1]: b → b mod 3
        var plain = Self.service(servers)
        var fallback = Self.service(servers, flags: .shFallback)
        // 10.0.0.4 → bucket 77 → 77 mod 3 = 2 → .1, which we overload.
        plain.setCounters(of: Self.key("10.0.1.1"), active: 0, inactive: 0, overloaded: true)
        fallback.setCounters(of: Self.key("10.0.1.1"), active: 0, inactive: 0, overloaded: true)
        #expect(Self.pick(&plain, from: "10.0.0.4") == nil)
        // k = 0: bucket 154 → 154 mod 3 = 1 → .2. (A walk from h + 1 = 78 would have chosen .3.)
        #expect(Self.pick(&fallback, from: "10.0.0.4") == "10.0.1.2")
        // 10.0.0.2 → bucket 137 → .1 too; k = 0: (137 + 137) mod 256 = 18 → 18 mod 3 = 0 → .3.
        #expect(Self.pick(&fallback, from: "10.0.0.2") == "10.0.1.3")
        // With .2 overloaded as well, 10.0.0.4 walks 154 (.2), 155 (.1), 156 → 0 → .3.
        fallback.setCounters(of: Self.key("10.0.1.2"), active: 0, inactive: 0, overloaded: true)
        #expect(Self.pick(&fallback, from: "10.0.0.4") == "10.0.1.3")
        // Everything unavailable: the walk ends without a destination.
        try fallback.editDestination(Self.real("10.0.1.3", weight: 0))
        #expect(Self.pick(&fallback, from: "10.0.0.4") == nil)
        // Available destinations are still returned directly.
        #expect(Self.pick(&plain, from: "10.0.0.1") == "10.0.1.3")  // 39 mod 3 = 0 → .3
    }

    @Test("A weight-0 destination keeps one bucket but is never chosen; fallback skips it")
    func quiescedDestination() {
        // Added .2 (weight 2) then .1 (weight 0) → list [.1 w0, .2 w2], pattern 0 1 1.
        let servers = [Self.real("10.0.1.2", weight: 2), Self.real("10.0.1.1", weight: 0)]
        var plain = Self.service(servers)
        var fallback = Self.service(servers, flags: .shFallback)
        // 10.0.0.1 → 39 mod 3 = 0 → .1 (weight 0).
        #expect(Self.pick(&plain, from: "10.0.0.1") == nil)
        // Fallback: bucket 78 (mod 3 = 0, .1 again), then 79 (mod 3 = 1) → .2.
        #expect(Self.pick(&fallback, from: "10.0.0.1") == "10.0.1.2")
        // 10.0.0.2 → 137 mod 3 = 2 → .2.
        #expect(Self.pick(&plain, from: "10.0.0.2") == "10.0.1.2")
    }

    @Test("Quiescing rebuilds the table from the current weight (not last_weight): one bucket for weight 0")
    func quiescingShrinksToOneBucket() throws {
        var s = Self.service([Self.real("10.0.1.2", weight: 1), Self.real("10.0.1.1", weight: 3)])  // [.1 w3, .2 w1]
        // Pattern 0 0 0 1: 77 mod 4 = 1 → .1; 192 mod 4 = 0 → .1.
        #expect(Self.pick(&s, from: "10.0.0.4") == "10.0.1.1")
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.1")
        try s.editDestination(Self.real("10.0.1.1", weight: 0))
        // [.1 w0, .2 w1]: pattern 0 1: 77 is odd → .2; 192 is even → .1, weight 0 → no destination.
        #expect(Self.pick(&s, from: "10.0.0.4") == "10.0.1.2")
        #expect(Self.pick(&s, from: "192.168.0.1") == nil)
    }

    @Test("Editing a weight, adding (at the head) and removing destinations rebuild the table")
    func rebuildOnChanges() throws {
        var s = Self.service([Self.real("10.0.1.2", weight: 1), Self.real("10.0.1.1", weight: 3)])  // [.1 w3, .2 w1]
        #expect(Self.pick(&s, from: "10.0.0.2") == "10.0.1.1")  // 137 mod 4 = 1
        try s.editDestination(Self.real("10.0.1.2", weight: 3))
        // [.1 w3, .2 w3]: pattern period 6; 137 mod 6 = 5 → .2; 192 mod 6 = 0 → .1; 39 mod 6 = 3 → .2.
        #expect(Self.pick(&s, from: "10.0.0.2") == "10.0.1.2")
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.1")
        #expect(Self.pick(&s, from: "10.0.0.1") == "10.0.1.2")
        try s.addDestination(Self.real("10.0.1.3", weight: 1))
        // [.3 w1, .1 w3, .2 w3]: period 7 (256 = 36·7 + 4, the walk just continues): 0 → .3, 1…3 → .1, 4…6 → .2.
        // 77 mod 7 = 0 → .3; 192 mod 7 = 3 → .1; 39 mod 7 = 4 → .2.
        #expect(Self.pick(&s, from: "10.0.0.4") == "10.0.1.3")
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.1")
        #expect(Self.pick(&s, from: "10.0.0.1") == "10.0.1.2")
        try s.removeDestination(Self.key("10.0.1.1"))
        // [.3 w1, .2 w3]: period 4: 0 → .3, 1…3 → .2. 77 mod 4 = 1 → .2; 192 mod 4 = 0 → .3.
        #expect(Self.pick(&s, from: "10.0.0.4") == "10.0.1.2")
        #expect(Self.pick(&s, from: "192.168.0.1") == "10.0.1.3")
    }

    @Test("Changing sh-port and sh-fallback on a running service takes effect on the next pick")
    func flagsChange() throws {
        var s = Self.service(["10.0.1.1", "10.0.1.2", "10.0.1.3"].map { Self.real($0) })
        #expect(Self.pick(&s, from: "192.168.0.1", port: 40000) == "10.0.1.3")
        try s.editService(VirtualService(.address(.tcp, Self.ip("10.0.0.100"), port: 80), scheduler: .sh,
                                         flags: .shPort))
        #expect(Self.pick(&s, from: "192.168.0.1", port: 40000) == "10.0.1.2")
    }

    @Test("IPv6 client addresses are folded to 32 bits before hashing")
    func ipv6Folding() {
        var s = try! ServiceScheduler(
            VirtualService(.address(.tcp, Self.ip("2001:db8::100"), port: 80), scheduler: .sh),
            servers: ["2001:db8::a", "2001:db8::b", "2001:db8::c"].map { Self.real($0) })  // [::c, ::b, ::a]
        // 2001:db8::1 → 63 mod 3 = 0 → ::c; 2001:db8::a00:1 → 5 mod 3 = 2 → ::a.
        #expect(Self.pick(&s, from: "2001:db8::1") == "2001:db8::c")
        #expect(Self.pick(&s, from: "2001:db8::a00:1") == "2001:db8::a")
    }

    @Test("The same client always gets the same destination while nothing changes")
    func hashStability() {
        var s = Self.service((1...7).map { Self.real("10.0.1.\($0)", weight: Int32($0)) }, flags: .shFallback)
        for c in 1...50 {
            let first = Self.pick(&s, from: "172.16.\(c).9", port: UInt16(c))
            for _ in 0..<3 { #expect(Self.pick(&s, from: "172.16.\(c).9", port: UInt16(c) &+ 17) == first) }
        }
    }
}
