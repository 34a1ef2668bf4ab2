import IPVSCore
import Testing

@Suite("Addresses")
struct AddressTests {
    @Test("IPv4 dotted quads parse and print as inet_pton/inet_ntop do")
    func ipv4RoundTrip() {
        #expect(IPv4Address("10.0.0.1")?.value == 0x0A00_0001)
        #expect(IPv4Address("255.255.255.255")?.description == "255.255.255.255")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..2.3"] {
            #expect(IPv4Address(bad) == nil, "\(bad) must be refused")
        }
    }

    @Test("IPv6 text prints the way glibc inet_ntop prints it", arguments: [
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
        ("::10.0.0.1", "::10.0.0.1"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        ("FE80::ABCD", "fe80::abcd"),
        ("0:0:0:0:0:1:0:0", "::1:0:0"),
    ])
    func ipv6Formatting(input: String, expected: String) {
        #expect(IPv6Address(input)?.description == expected)
    }

    @Test("Malformed IPv6 text is refused")
    func ipv6Refused() {
        for bad in ["", ":", ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "1:2:3:4:5:6:7", "g::1", "::1:",
                    "1.2.3.4::", "fe80::1%eth0", ":1::"] {
            #expect(IPv6Address(bad) == nil, "\(bad) must be refused")
        }
    }

    @Test("IPv6 folding XORs the four 32-bit words, as the kernel's addr_fold")
    func folding() {
        let a = IPAddress("2001:db8::1:2")!
        #expect(a.folded == 0x2001_0db8 ^ 0 ^ 0 ^ 0x0001_0002)
        #expect(IPAddress("10.1.2.3")!.folded == 0x0A01_0203)
    }
}
