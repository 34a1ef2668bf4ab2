#if canImport(Glibc)
import Glibc
#endif
import IPVSCore
import Testing

@testable import IPVSTap

/// Live capture on the loopback interface: needs CAP_NET_RAW (root), so it is enabled only for root. The traffic is
/// one UDP datagram to 127.0.0.1 on a random port, matched by a filter on that port.
@Suite("Live capture", .enabled(if: geteuid() == 0, "needs CAP_NET_RAW (root)"))
struct LiveCaptureTests {
    static func sendDatagram(to port: UInt16, payload: [UInt8]) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        #expect(sent == payload.count)
    }

    /// Captures on `interface` until the datagram shows up (or 5 s), decodes it and returns it.
    static func capture(on interface: String, expecting linkType: LinkType) throws -> DecodedPacket? {
        let port = UInt16.random(in: 20000...60000)
        var options = LiveCaptureOptions()
        options.timeoutMilliseconds = 50
        let h = try PcapHandle.capture(interface: interface, options: options)
        #expect(h.linkType == linkType)
        try h.setFilter("udp and dst port \(port)")
        sendDatagram(to: port, payload: Array("tap".utf8))
        var decoder = PacketDecoder()
        var packet = DecodedPacket()
        var waits = 0
        while waits < 100 {
            switch try h.next() {
            case .packet(let r):
                #expect(decoder.decode(r.data, linkType: h.linkType, into: &packet) == .decoded)
                #expect(packet.destinationPort == port)
                #expect(r.originalLength == UInt32(r.data.count))
                return packet
            case .timeout:
                waits += 1
            case .end:
                return nil
            }
        }
        return nil
    }

    @Test("a datagram to 127.0.0.1 is captured on lo (Ethernet framing) through a BPF filter")
    func loopback() throws {
        let p = try Self.capture(on: "lo", expecting: .ethernet)
        #expect(p?.ip.sourceAddress == T.a("127.0.0.1"))
        #expect(p?.ip.destinationAddress == T.a("127.0.0.1"))
        #expect(p?.ip.totalLength == 31)
    }

    @Test("on any, frames come with Linux cooked v2 headers naming the interface")
    func anyDevice() throws {
        let p = try Self.capture(on: "any", expecting: .linuxSLL2)
        #expect(p?.interfaceIndex == if_nametoindex("lo"))
        #expect(p?.ip.destinationAddress == T.a("127.0.0.1"))
    }

    @Test("a missing interface is an error that names it")
    func missingInterface() {
        do {
            _ = try PcapHandle.capture(interface: "nosuchif0")
            Issue.record("opened")
        } catch {
            #expect(error.operation.hasPrefix("capture on nosuchif0"))
            #expect(!error.message.isEmpty)
        }
    }
}
