#if canImport(Glibc)
import Glibc
#endif
import IPVSCore
import Testing

@testable import IPVSTap

@Suite("Pcap files")
struct PcapFileTests {
    static let formats: [PcapFileFormat] = [LinkType.ethernet, .linuxSLL, .linuxSLL2, .raw].flatMap { link in
        [PcapFileFormat.Precision.microseconds, .nanoseconds].flatMap { precision in
            [PcapFileFormat.ByteOrder.littleEndian, .bigEndian].map { order in
                PcapFileFormat(linkType: link, precision: precision, byteOrder: order, snapLength: 96)
            }
        }
    }

    @Test("files written in either precision and byte order read back through libpcap", arguments: formats)
    func roundTrip(format: PcapFileFormat) throws {
        let writer = PcapWriter(format: format)
        let ip4 = PacketBuilder.ipv4(source: T.client4, destination: T.vip4, protocol: 6,
                                     payload: PacketBuilder.tcp(source: 1, destination: 80, flags: .syn))
        let ip6 = PacketBuilder.ipv6(source: T.client6, destination: T.vip6, nextHeader: 17,
                                     payload: PacketBuilder.udp(source: 2, destination: 53, payloadLength: 200))
        let frames = [PacketBuilder.frame(format.linkType, ip: ip4), PacketBuilder.frame(format.linkType, ip: ip6)]
        let times = [CaptureTime(nanoseconds: 1_700_000_000_123_456_789), CaptureTime(nanoseconds: 1_700_000_001_000_000_001)]
        writer.append(frames[0], time: times[0])
        // The second as a capture with a 96-byte snapshot keeps it: 96 bytes captured, the full length on the wire.
        writer.append(frames[1].prefix(96), time: times[1], originalLength: UInt32(frames[1].count))
        #expect(writer.recordCount == 2)
        #expect(writer.bytes.count == 24 + 16 + frames[0].count + 16 + 96)
        let path = T.temporaryPath("roundtrip")
        defer { T.remove(path) }
        try writer.write(to: path)

        let h = try PcapHandle.open(file: path)
        #expect(h.linkType == format.linkType)
        var records: [(CaptureTime, [UInt8], UInt32)] = []
        while case .packet(let r) = try h.next() { records.append((r.time, Array(r.data), r.originalLength)) }
        #expect(records.count == 2)
        guard records.count == 2 else { return }
        let scale: UInt64 = format.precision == .microseconds ? 1000 : 1
        #expect(records[0].0.nanoseconds == times[0].nanoseconds / scale * scale)
        #expect(records[1].0.nanoseconds == times[1].nanoseconds / scale * scale)
        #expect(records[0].1 == frames[0])
        #expect(records[0].2 == UInt32(frames[0].count))
        #expect(records[1].1 == Array(frames[1].prefix(96)))
        #expect(records[1].2 == UInt32(frames[1].count))

        // And they decode.
        var decoder = PacketDecoder()
        var packet = DecodedPacket()
        #expect(records[1].1.withUnsafeBytes { decoder.decode($0, linkType: h.linkType, into: &packet) } == .decoded)
        #expect(packet.destinationPort == 53)
    }

    @Test("the header's bytes: magic and fields in the chosen byte order")
    func headerBytes() {
        let big = PcapWriter(format: PcapFileFormat(linkType: .raw, precision: .nanoseconds, byteOrder: .bigEndian,
                                                    snapLength: 65535))
        #expect(big.bytes == [0xA1, 0xB2, 0x3C, 0x4D, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 101])
        let little = PcapWriter(format: PcapFileFormat(linkType: .linuxSLL2, snapLength: 65535))
        #expect(little.bytes == [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0x14, 1, 0, 0])
    }

    @Test("a streaming writer produces the same file as the in-memory one")
    func streamingWriter() throws {
        let format = PcapFileFormat(linkType: .ethernet, precision: .nanoseconds)
        let memory = PcapWriter(format: format)
        let path = T.temporaryPath("stream")
        defer { T.remove(path) }
        let file = try PcapWriter(path: path, format: format)
        for i in 0..<20_000 {
            let frame = PacketBuilder.frame(.ethernet, ip: PacketBuilder.ipv4(
                source: IPv4Address(UInt32(i)), destination: T.vip4, protocol: 17,
                payload: PacketBuilder.udp(source: UInt16(i & 0xFFFF), destination: 53, payloadLength: i % 50)))
            memory.append(frame, time: CaptureTime(nanoseconds: UInt64(i)))
            file.append(frame, time: CaptureTime(nanoseconds: UInt64(i)))
        }
        try file.close()
        let records = try T.readAll(path)
        #expect(records.count == 20_000)
        let other = T.temporaryPath("stream-memory")
        defer { T.remove(other) }
        try memory.write(to: other)
        let recordsFromMemory = try T.readAll(other)
        #expect(records.map(\.1) == recordsFromMemory.map(\.1))
        #expect(records.map(\.0) == (0..<20_000).map { CaptureTime(nanoseconds: UInt64($0)) })
    }

    @Test("pcapng files read through libpcap (section, interface and enhanced packet blocks)")
    func pcapng() throws {
        let frame = PacketBuilder.frame(.linuxSLL2, ip: PacketBuilder.ipv4(
            source: T.client4, destination: T.vip4, protocol: 6,
            payload: PacketBuilder.tcp(source: 5, destination: 80, flags: .syn)))
        var b: [UInt8] = []
        func le32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func le16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        // Section header block.
        le32(0x0A0D_0D0A); le32(28); le32(0x1A2B_3C4D); le16(1); le16(0); le32(0xFFFF_FFFF); le32(0xFFFF_FFFF); le32(28)
        // Interface description block: SLL2, snaplen 0, no options (microsecond timestamps).
        le32(1); le32(20); le16(276); le16(0); le32(0); le32(20)
        // Enhanced packet block.
        let padded = (frame.count + 3) / 4 * 4
        let micros: UInt64 = 1_700_000_000_654_321
        le32(6); le32(UInt32(32 + padded)); le32(0); le32(UInt32(micros >> 32)); le32(UInt32(micros & 0xFFFF_FFFF))
        le32(UInt32(frame.count)); le32(UInt32(frame.count))
        b.append(contentsOf: frame)
        b.append(contentsOf: repeatElement(0, count: padded - frame.count))
        le32(UInt32(32 + padded))
        let path = T.temporaryPath("ng")
        defer { T.remove(path) }
        let f = fopen(path, "wb")!
        _ = b.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)

        let h = try PcapHandle.open(file: path)
        #expect(h.linkType == .linuxSLL2)
        guard case .packet(let r) = try h.next() else {
            Issue.record("no packet")
            return
        }
        #expect(r.time == CaptureTime(nanoseconds: micros * 1000))
        #expect(Array(r.data) == frame)
        guard case .end = try h.next() else {
            Issue.record("more than one packet")
            return
        }
    }

    @Test("opening a missing or non-pcap file is an error that names the file")
    func openErrors() throws {
        let missing = "/nonexistent/ipvstap.pcap"
        #expect(throws: PcapError.self) { _ = try PcapHandle.open(file: missing) }
        do {
            _ = try PcapHandle.open(file: missing)
        } catch {
            #expect(error.operation == "open capture file \(missing)")
            #expect(error.message.contains("No such file"))
        }
        let path = T.temporaryPath("garbage")
        defer { T.remove(path) }
        let w = PcapWriter(format: PcapFileFormat(linkType: .raw))
        try w.write(to: path)
        // A valid header then a record header that promises more bytes than the file has.
        let f = fopen(path, "ab")!
        let record: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 1, 2, 3]
        _ = record.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        let h = try PcapHandle.open(file: path)
        #expect(throws: PcapError.self) { _ = try h.next() }
        let garbagePath = T.temporaryPath("garbage2")
        defer { T.remove(garbagePath) }
        try PcapWriter(format: PcapFileFormat(linkType: .raw)).write(to: garbagePath)
        let g = fopen(garbagePath, "r+b")!
        fputc(0x55, g)
        fclose(g)
        #expect(throws: PcapError.self) { _ = try PcapHandle.open(file: garbagePath) }
    }
}
