// libFuzzer target for the tap's packet decoder and flow tracker (issue 7, item 5).
//
// Built by tools/test.d/host/40-tap-fuzz with `-sanitize=fuzzer,address -DTAP_FUZZ`: `main` hands the command line
// to libFuzzer (`LLVMFuzzerRunDriver`), which drives `LLVMFuzzerTestOneInput`. Built normally (no TAP_FUZZ) it is a
// reproducer: `tap-fuzz FILE…` runs each input once; `tap-fuzz --write-seeds DIR` writes the seed corpus.
//
// An input is one byte selecting the link type, then the frame. Every input is decoded and, when it decodes,
// tracked by a tap that watches NAT, direct-routing and IPIP/GRE/GUE tunnel services, so the tracker's paths run
// on fuzzed headers too. The tap is renewed every 10 000 inputs to bound its memory.
#if canImport(Glibc)
import Glibc
#endif
import CTapFuzz
import IPVSCore
import IPVSTap

enum FuzzState {
    static let linkTypes: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .ipv4, .ipv6]

    static let services: [WatchedService] = [
        WatchedService(VirtualService(.address(.tcp, IPAddress("10.96.0.1")!, port: 80), scheduler: .rr),
                       realServers: [
                           RealServer(IPAddress("10.0.1.1")!, port: 8080, forwarding: .masquerade),
                           RealServer(IPAddress("10.0.5.1")!, port: 80, forwarding: .route),
                           RealServer(IPAddress("10.0.2.1")!, port: 80, forwarding: .tunnel),
                           RealServer(IPAddress("fd00:2::1")!, port: 80, forwarding: .tunnel, tunnelType: .gre),
                           RealServer(IPAddress("10.0.4.1")!, port: 80, forwarding: .tunnel, tunnelType: .gue,
                                      tunnelPort: 6080),
                       ]),
        WatchedService(VirtualService(.address(.udp, IPAddress("fd00:96::53")!, port: 53), scheduler: .rr),
                       realServers: [RealServer(IPAddress("fd00:1::1")!, port: 5353, forwarding: .masquerade)]),
        WatchedService(VirtualService(.address(.sctp, IPAddress("10.96.0.3")!, port: 0), scheduler: .rr),
                       realServers: [RealServer(IPAddress("10.0.1.1")!, port: 0, forwarding: .masquerade)]),
    ]

    static let routes = RouteTopology(macs: [0x02_00_00_00_01_00: IPAddress("10.0.5.1")!],
                                      interfaces: [10: IPAddress("10.0.5.1")!])

    nonisolated(unsafe) static var tap = Tap(services: services, routes: routes)
    nonisolated(unsafe) static var inputs = 0
    nonisolated(unsafe) static var sinceRenewal: UInt64 = 0
    nonisolated(unsafe) static var time: UInt64 = 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func tapFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data, size >= 1 else { return 0 }
    let linkType = FuzzState.linkTypes[Int(data[0]) % FuzzState.linkTypes.count]
    let frame = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    FuzzState.inputs += 1
    if FuzzState.inputs % 10_000 == 0 {
        FuzzState.tap = Tap(services: FuzzState.services, routes: FuzzState.routes)
        FuzzState.sinceRenewal = 0
    }
    FuzzState.sinceRenewal += 1
    // Time moves by a fuzzed amount, so timeouts and reuse are exercised too.
    FuzzState.time &+= UInt64(size) &* 1_000_000_007
    _ = FuzzState.tap.process(frame, linkType: linkType, at: CaptureTime(nanoseconds: FuzzState.time))
    // Every frame counted once; every opening made exactly one connection.
    precondition(FuzzState.tap.decoder.statistics.total == FuzzState.sinceRenewal, "a frame was not counted")
    precondition(UInt64(FuzzState.tap.tracker.connections.count) == FuzzState.tap.tracker.statistics.newConnections,
                 "connections and openings disagree")
    return 0
}

/// With `TAP_FUZZ_SEED_DIR` set, writes the seed corpus there before libFuzzer reads its corpus directories
/// (libFuzzer calls this first): frames of generated director traffic for every link type and forwarding method,
/// and hand-made frames with IPv6 extension headers, VLAN tags and every tunnel.
@_cdecl("LLVMFuzzerInitialize")
public func tapFuzzInitialize(_ argc: UnsafeMutablePointer<Int32>?,
                              _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?)
    -> Int32
{
    guard let directory = getenv("TAP_FUZZ_SEED_DIR").map({ String(cString: $0) }) else { return 0 }
    var count = 0
    for seed in SeedCorpus.inputs() {
        let path = "\(directory)/seed-\(count)"
        if let f = fopen(path, "wb") {
            _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            fclose(f)
            count += 1
        }
    }
    warn("tap-fuzz: wrote \(count) seeds to \(directory)")
    return 0
}

/// A line on standard error (file descriptor 2: Glibc's `stderr` is shared mutable state to Swift 6).
func warn(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

enum SeedCorpus {
    static func inputs() -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        let watched = FuzzState.services[0]
        for (linkIndex, linkType) in FuzzState.linkTypes.enumerated() where linkType != .ipv6 {
            for j in watched.realServers.indices {
                let one = WatchedService(watched.service, realServers: [watched.realServers[j]])
                var options = SyntheticTraffic.Options()
                options.linkType = linkType == .ipv4 ? .raw : linkType
                options.connections = 3
                options.concurrent = 1
                options.dataPackets = 1
                let writer = PcapWriter(format: PcapFileFormat(linkType: options.linkType))
                _ = SyntheticTraffic(one, options: options, into: writer)
                seeds += records(writer.bytes).map { [UInt8(linkIndex)] + $0 }
            }
        }
        let client6 = IPv6Address("2001:db8::10")!, vip6 = IPv6Address("fd00:96::53")!
        let udp6 = PacketBuilder.ipv6(
            source: client6, destination: vip6, nextHeader: 17,
            payload: PacketBuilder.udp(source: 4000, destination: 53, payloadLength: 8),
            extensions: [.hopByHop(octets: 8), .routing(octets: 24), .destinationOptions(octets: 8),
                         .authentication(icvWords: 3), .fragment(offset: 0, more: true, identification: 7)])
        seeds.append([5] + udp6)
        seeds.append([0] + PacketBuilder.ethernet(destination: 1, source: 2, vlans: [.init(5, protocolIdentifier: 0x88A8),
                                                                                     .init(6)], payload: udp6))
        let sctp = PacketBuilder.ipv4(source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(10, 96, 0, 3),
                                      protocol: 132, payload: PacketBuilder.sctp(source: 1, destination: 9, chunk: 1))
        seeds.append([4] + sctp)
        seeds.append([3] + PacketBuilder.ipInIP(outerSource: IPAddress("fd00::fe")!, outerDestination: IPAddress("fd00:2::1")!,
                                                inner: udp6))
        seeds.append([3] + PacketBuilder.ip(source: IPAddress("fd00::fe")!, destination: IPAddress("fd00:2::1")!,
                                            protocol: 47, payload: PacketBuilder.gre(inner: sctp, checksum: true, key: 9)))
        return seeds
    }

    /// The records of a classic little-endian pcap file's bytes.
    static func records(_ file: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var offset = 24
        while offset + 16 <= file.count {
            let length = Int(file[offset + 8]) | Int(file[offset + 9]) << 8 | Int(file[offset + 10]) << 16
                | Int(file[offset + 11]) << 24
            offset += 16
            out.append(Array(file[offset..<offset + length]))
            offset += length
        }
        return out
    }
}

/// Fuzzing (built with TAP_FUZZ): hands the command line to libFuzzer. Otherwise the reproducer: runs each input
/// file once through the fuzz entry point, or writes the seed corpus (`--write-seeds DIR`).
@main
struct TapFuzzMain {
    static func main() {
        #if TAP_FUZZ
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in tapFuzzOneInput(data, size) })
        #else
        reproduce(CommandLine.arguments.dropFirst())
        #endif
    }

    static func reproduce(_ arguments: ArraySlice<String>) {
        if arguments.first == "--write-seeds", arguments.count == 2 {
            setenv("TAP_FUZZ_SEED_DIR", arguments.last!, 1)
            _ = tapFuzzInitialize(nil, nil)
            return
        }
        for path in arguments {
            guard let f = fopen(path, "rb") else {
                warn("tap-fuzz: cannot open \(path)")
                exit(66)
            }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&buffer, 1, buffer.count, f)
                if n <= 0 { break }
                bytes += buffer[..<n]
            }
            fclose(f)
            _ = bytes.withUnsafeBufferPointer { tapFuzzOneInput($0.baseAddress, $0.count) }
            print("tap-fuzz: \(path): \(bytes.count) bytes, ok")
        }
    }
}
