#if canImport(Glibc)
import Glibc
#endif
import IPVSCore
import Testing
@testable import IPVSTap

/// Addresses and frames the tap tests share.
enum T {
    static let client4 = IPv4Address(192, 0, 2, 10)
    static let vip4 = IPv4Address(10, 96, 0, 1)
    static let client6 = IPv6Address("2001:db8::10")!
    static let vip6 = IPv6Address("fd00::1")!

    static func a(_ text: String) -> IPAddress { IPAddress(text)! }

    /// Decodes one frame with a fresh decoder.
    static func decode(_ frame: [UInt8], _ linkType: LinkType, guePorts: [UInt16] = [])
        -> (PacketDisposition, DecodedPacket)
    {
        var decoder = PacketDecoder(guePorts: guePorts)
        var packet = DecodedPacket()
        let d = frame.withUnsafeBytes { decoder.decode($0, linkType: linkType, into: &packet) }
        #expect(decoder.statistics[d] == 1)
        #expect(decoder.statistics.total == 1)
        return (d, packet)
    }

    /// A fresh path under /tmp for one test's file.
    static func temporaryPath(_ name: String) -> String {
        return "/tmp/ipvstap-test-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func remove(_ path: String) { unlink(path) }

    static func readAll(_ path: String) throws -> [(CaptureTime, [UInt8], UInt32)] {
        let h = try PcapHandle.open(file: path)
        var out: [(CaptureTime, [UInt8], UInt32)] = []
        while case .packet(let r) = try h.next() { out.append((r.time, Array(r.data), r.originalLength)) }
        return out
    }
}
