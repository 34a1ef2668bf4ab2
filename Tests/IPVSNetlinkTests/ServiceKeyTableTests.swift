import IPVSCore
import Testing

@testable import IPVSNetlink

/// `ServiceKeyTable.hasRepeats` (the service dump's check for services listed twice) against a `Set<ServiceKey>`:
/// random dumps of every kind of key, with and without one key repeated, and keys built to fold into the same hash
/// word, which must still be told apart.
struct ServiceKeyTableTests {
    static func entry(_ key: ServiceKey) -> IPVSServiceEntry {
        IPVSServiceEntry(service: VirtualService(key), kernelFlags: [.hashed], statistics: IPVSStatistics())
    }

    static func randomKey(using random: inout SystemRandomNumberGenerator) -> ServiceKey {
        let family: AddressFamily = Bool.random(using: &random) ? .inet : .inet6
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return .firewallMark(UInt32.random(in: 0...40, using: &random), family)
        case 1:
            let address = IPv6Address(
                high: .random(in: 0...3, using: &random), low: .random(in: 0...UInt64.max, using: &random))
            return .address(.udp, .v6(address), port: UInt16.random(in: 0...3, using: &random))
        default:
            let p: IPProtocol = [.tcp, .udp, .sctp][Int.random(in: 0..<3, using: &random)]
            return .address(
                p, .v4(IPv4Address(UInt32.random(in: 0...UInt32.max, using: &random))),
                port: UInt16.random(in: 0...3, using: &random))
        }
    }

    @Test(arguments: [0, 1, 2, 3, 17, 1000, 20_000])
    func repeatsAreFoundExactlyWhenASetFindsThem(count: Int) {
        var random = SystemRandomNumberGenerator()
        var keys: [ServiceKey] = []
        var seen = Set<ServiceKey>()
        while keys.count < count {
            let key = Self.randomKey(using: &random)
            if seen.insert(key).inserted { keys.append(key) }
        }
        let distinct = keys.map(Self.entry)
        #expect(!ServiceKeyTable.hasRepeats(distinct))
        guard count > 0 else { return }
        // One key again, anywhere in the dump.
        for _ in 0..<5 {
            var repeated = distinct
            let copy = repeated[Int.random(in: 0..<count, using: &random)]
            repeated.insert(copy, at: Int.random(in: 0...count, using: &random))
            #expect(ServiceKeyTable.hasRepeats(repeated))
        }
    }

    /// Keys whose fields fold into one hash word (checked: each pair's words are equal) — an IPv4 key and an IPv6
    /// key, an IPv6 key and a mark, two IPv6 keys whose address and port trade bits: the table compares the keys
    /// themselves, so none of them is a repeat, and a true repeat among them still is.
    @Test func keysThatHashAlikeAreNotRepeats() {
        let pairs: [(ServiceKey, ServiceKey)] = [
            (.address(.tcp, .v4(IPv4Address(0x5555)), port: 0),
             .address(.tcp, .v6(IPv6Address(high: 0, low: 0)), port: 0)),
            (.firewallMark(2, .inet), .address(.tcp, .v6(IPv6Address(high: 0, low: 6 << 48 ^ 4)), port: 0)),
            (.address(.udp, .v6(IPv6Address(high: 0, low: 1 << 32)), port: 0),
             .address(.udp, .v6(IPv6Address(high: 0, low: 0)), port: 1)),
        ]
        for (a, b) in pairs { #expect(a != b && ServiceKeyTable.hash(a) == ServiceKeyTable.hash(b), "\(a) \(b)") }
        let keys = pairs.flatMap { [$0.0, $0.1] }
        #expect(Set(keys).count == keys.count)
        #expect(!ServiceKeyTable.hasRepeats(keys.map(Self.entry)))
        for key in keys { #expect(ServiceKeyTable.hasRepeats((keys + [key]).map(Self.entry))) }
    }
}
