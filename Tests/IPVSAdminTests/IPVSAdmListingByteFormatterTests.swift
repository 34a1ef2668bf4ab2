import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// The byte formatter (IPVSAdmListing writing into IPVSAdmTextBuffer) against the String formatter it replaced
/// (StringListingReference), over random tables in every listing mode: the same bytes, or the test names the mode,
/// the seed and the first line that differs.
struct IPVSAdmListingByteFormatterTests {
    /// Every listing mode of `-L` and `-S`, each with and without -n, --exact and --nosort.
    static let modes: [IPVSAdmFormat] = {
        let bases: [IPVSAdmFormat] = [[], .stats, .rate, .thresholds, .persistentConnections, .tunnelInfo, .rule]
        var all: [IPVSAdmFormat] = []
        for base in bases {
            for numeric in [false, true] {
                for exact in [false, true] {
                    for noSort in [false, true] {
                        var f = base
                        if numeric { f.insert(.numeric) }
                        if exact { f.insert(.exact) }
                        if noSort { f.insert(.noSort) }
                        all.append(f)
                    }
                }
            }
        }
        return all
    }()

    @Test(arguments: 0..<8)
    func randomTablesFormatAsTheStringFormatterDid(round: Int) {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix(seed: seed)
        let table = RandomListingTable.make(services: 60, using: &random)
        let resolver = RandomNames(seed: random.next())
        let info = IPVSInfo(versionCode: 0x01_02_01, connectionTableSize: UInt32(random.next() % 1_048_576))
        for format in Self.modes {
            let reference = StringListingReference(format: format, resolver: resolver)
            let listing = IPVSAdmListing(format: format, resolver: resolver)
            let expected = reference.all(info: info, services: table)
            var buffer = IPVSAdmTextBuffer(capacity: 64)
            listing.writeAll(info: info, services: table, into: &buffer)
            let written = buffer.string
            // Compared through the first differing line, so that a failure says where rather than print both texts.
            #expect(Self.firstDifference(written, expected) == nil, "seed \(seed) format \(format.rawValue)")
            #expect(
                Self.firstDifference(listing.all(info: info, services: table), expected) == nil,
                "seed \(seed) format \(format.rawValue)")
            let one = table[Int(random.next() % UInt64(table.count))]
            #expect(
                Self.firstDifference(listing.one(one), reference.one(one)) == nil,
                "seed \(seed) format \(format.rawValue)")
        }
    }

    /// The buffer's number and address writers print what printf's %llu, %Nu, %-Nd and inet_ntop print.
    @Test func largeAndNegativeNumbersPrintAsPrintfPrintsThem() {
        var b = IPVSAdmTextBuffer(capacity: 1)
        b.appendDecimal(UInt64.max, width: 3)
        b.append(UInt8(ascii: "|"))
        b.appendDecimal(7, width: 5)
        b.append(UInt8(ascii: "|"))
        b.appendSigned(-2_147_483_648, width: 0)
        b.append(UInt8(ascii: "|"))
        b.appendSigned(-5, width: -6)
        b.append(UInt8(ascii: "|"))
        b.appendDecimalLeft(0, width: 3)
        b.append(UInt8(ascii: "|"))
        b.appendNumeric(IPAddress("255.0.10.1")!)
        b.append(UInt8(ascii: "|"))
        b.appendNumeric(IPAddress("::ffff:10.0.0.1")!)
        b.append(UInt8(ascii: "|"))
        b.appendNumeric(IPAddress("2001:db8:0:0:1::1")!)
        #expect(
            b.string == "18446744073709551615|    7|-2147483648|-5    |0  |255.0.10.1|::ffff:10.0.0.1|2001:db8::1:0:0:1")
    }

    /// nil when equal, else the first line that differs (both versions).
    static func firstDifference(_ a: String, _ b: String) -> String? {
        if a == b { return nil }
        let la = a.split(separator: "\n", omittingEmptySubsequences: false)
        let lb = b.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(la[i]) : "<none>"
            let y = i < lb.count ? String(lb[i]) : "<none>"
            if x != y { return "line \(i + 1): got \"\(x)\", expected \"\(y)\"" }
        }
        return "same lines, different bytes"
    }
}

/// A small deterministic generator, so that a failing seed can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

/// Random tables with every field a listing prints: IPv4 far apart (so the sort's int overflow matters), IPv6,
/// firewall marks (some above 2^31), every protocol, scheduler, flag and forwarding method, persistence with
/// netmasks and engines, thresholds, tunnels (flags beyond the known ones too), and counters around the K/M/G/T
/// thresholds.
enum RandomListingTable {
    static func make(services: Int, using r: inout SplitMix) -> [IPVSAdmServiceListing] {
        (0..<services).map { _ in service(using: &r) }
    }

    static func address(v6: Bool, using r: inout SplitMix) -> IPAddress {
        if v6 {
            // Zero runs of every length, so that inet_ntop's "::" choice is exercised.
            var high = r.next()
            var low = r.next()
            if r.next() % 2 == 0 { high &= 0xffff_ffff_0000_ffff }
            if r.next() % 2 == 0 { low &= 0x0000_0000_ffff_ffff }
            if r.next() % 4 == 0 { high = 0x2001_0db8_0000_0000 }
            if r.next() % 8 == 0 { (high, low) = (0, 0x0000_ffff_0000_0000 | (r.next() & 0xffff_ffff)) }
            return .v6(IPv6Address(high: high, low: low))
        }
        return .v4(IPv4Address(UInt32(truncatingIfNeeded: r.next())))
    }

    static func statistics(using r: inout SplitMix) -> IPVSStatistics {
        func value(_ r: inout SplitMix) -> UInt64 {
            switch r.next() % 6 {
            case 0: return 0
            case 1: return r.next() % 1000
            case 2: return 99_999_990 + r.next() % 20
            case 3: return r.next() % 1_000_000_000_000
            case 4: return UInt64.max - r.next() % 3
            default: return r.next() >> (r.next() % 64)
            }
        }
        var s = IPVSStatistics()
        s.connections = value(&r)
        s.incomingPackets = value(&r)
        s.outgoingPackets = value(&r)
        s.incomingBytes = value(&r)
        s.outgoingBytes = value(&r)
        s.connectionsPerSecond = value(&r)
        s.incomingPacketsPerSecond = value(&r)
        s.outgoingPacketsPerSecond = value(&r)
        s.incomingBytesPerSecond = value(&r)
        s.outgoingBytesPerSecond = value(&r)
        return s
    }

    static func service(using r: inout SplitMix) -> IPVSAdmServiceListing {
        let v6 = r.next() % 3 == 0
        let key: ServiceKey
        if r.next() % 5 == 0 {
            let mark = r.next() % 2 == 0 ? UInt32(r.next() % 100) : UInt32(truncatingIfNeeded: r.next())
            key = .firewallMark(mark, v6 ? .inet6 : .inet)
        } else {
            let p: IPProtocol = [.tcp, .udp, .sctp][Int(r.next() % 3)]
            key = .address(p, address(v6: v6, using: &r), port: UInt16(truncatingIfNeeded: r.next() % 4 == 0 ? 0 : r.next()))
        }
        let scheduler = SchedulerKind.allCases[Int(r.next() % UInt64(SchedulerKind.allCases.count))]
        var flags = ServiceFlags(rawValue: UInt32(truncatingIfNeeded: r.next()) & 0x3f)
        flags.remove(.hashed)
        let netmask: UInt32 = v6 ? UInt32(r.next() % 129) : (r.next() % 2 == 0 ? 0xffff_ffff : ~0 << (r.next() % 33))
        let engine: String? = r.next() % 3 == 0 ? "sip" : (r.next() % 4 == 0 ? "" : nil)
        let service = VirtualService(
            key, scheduler: scheduler, flags: flags, persistenceTimeout: UInt32(truncatingIfNeeded: r.next() % 100_000),
            netmask: netmask, persistenceEngine: engine)
        let entry = IPVSServiceEntry(
            service: service, kernelFlags: flags.union(.hashed), statistics: statistics(using: &r))
        let count = Int(r.next() % 8)
        let destinations: [IPVSDestinationEntry] = (0..<count).map { _ in
            // Mostly the service's family; a tunnel server may be of the other one.
            let forwarding = ForwardingMethod.allCases[Int(r.next() % 4)]
            let dv6 = forwarding == .tunnel && r.next() % 4 == 0 ? !v6 : v6
            let server = RealServer(
                address(v6: dv6, using: &r), port: UInt16(truncatingIfNeeded: r.next()), forwarding: forwarding,
                weight: r.next() % 5 == 0 ? Int32(truncatingIfNeeded: r.next()) : Int32(r.next() % 65536),
                upperThreshold: r.next() % 2 == 0 ? 0 : UInt32(truncatingIfNeeded: r.next()),
                lowerThreshold: r.next() % 2 == 0 ? 0 : UInt32(truncatingIfNeeded: r.next()),
                tunnelType: TunnelType.allCases[Int(r.next() % 3)], tunnelPort: UInt16(truncatingIfNeeded: r.next()),
                tunnelFlags: TunnelFlags(rawValue: UInt16(r.next() % 5)))
            return IPVSDestinationEntry(
                server: server, activeConnections: UInt32(truncatingIfNeeded: r.next() >> (r.next() % 64)),
                inactiveConnections: UInt32(truncatingIfNeeded: r.next() >> (r.next() % 64)),
                persistentConnections: UInt32(truncatingIfNeeded: r.next() >> (r.next() % 64)),
                statistics: statistics(using: &r))
        }
        return IPVSAdmServiceListing(entry, destinations)
    }
}

/// Names for about half the addresses and ports, some long enough to be cut at 28, 33 and 59 bytes (ASCII: a cut
/// inside a multi-byte character came out as U+FFFD from the String formatter, as raw bytes from ipvsadm).
struct RandomNames: IPVSAdmNameResolver {
    let seed: UInt64

    func mix(_ x: UInt64) -> UInt64 {
        var g = SplitMix(seed: seed ^ x)
        return g.next()
    }

    func hostName(_ address: IPAddress) -> String? {
        let h: UInt64
        switch address {
        case .v4(let a): h = mix(UInt64(a.value))
        case .v6(let a): h = mix(a.high ^ a.low.byteSwapped)
        }
        guard h % 2 == 0 else { return nil }
        return "host-" + String(repeating: "x", count: Int(h >> 8) % 70) + ".example"
    }

    func serviceName(port: UInt16, ipProtocol: UInt16) -> String? {
        let h = mix(UInt64(port) << 16 | UInt64(ipProtocol))
        guard h % 2 == 0 else { return nil }
        return "svc" + String(repeating: "p", count: Int(h >> 8) % 12)
    }
}
