import Foundation
import Testing

@testable import IPVSTap

/// libpcap is opened when the tap first uses it (CShims/CPcap), not linked: a program that links the tap and does
/// not capture starts without libpcap and the eight libraries it pulls in — every `ipvsctl -Ln` and `-R` — while
/// the tap itself works as before (every other test of this target reads or compiles through libpcap).
@Suite("libpcap opened on first use")
struct PcapLoadingTests {
    /// The ipvsctl executable built next to the test bundle.
    static let ipvsctl: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ipvsctl").path
    }()

    /// The libraries the dynamic loader initialised for `arguments` (LD_DEBUG=libs), and the exit status.
    static func librariesStarted(_ arguments: [String]) throws -> (libraries: [String], status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ipvsctl)
        process.arguments = arguments
        process.environment = ["LD_DEBUG": "libs", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let libraries = text.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: "calling init: ") else { return nil }
            return String(line[range.upperBound...])
        }
        return (libraries, process.terminationStatus)
    }

    @Test("ipvsctl starts without libpcap and the libraries it pulls in")
    func ipvsctlStartsWithoutLibpcap() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.ipvsctl), "no ipvsctl at \(Self.ipvsctl)")
        let help = try Self.librariesStarted(["--help"])
        #expect(help.status == 0)
        // The loader's report is there (libc is always initialised) and names libnl, which ipvsctl links.
        #expect(help.libraries.contains { $0.contains("libc.so") }, "\(help.libraries)")
        #expect(help.libraries.contains { $0.contains("libnl-genl-3") }, "\(help.libraries)")
        #expect(!help.libraries.contains { $0.contains("libpcap") }, "\(help.libraries)")
        for unwanted in ["libdbus", "libsystemd", "libgcrypt"] {
            #expect(!help.libraries.contains { $0.contains(unwanted) }, "\(unwanted) in \(help.libraries)")
        }
    }

    @Test("The tap opens libpcap when it first needs it, in this process")
    func theTapOpensLibpcapWhenUsed() throws {
        _ = try CaptureFilter.compile("tcp port 80", linkType: .ethernet)
        // /proc files report no size: read to the end.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        #expect(maps.contains("/libpcap.so"), "libpcap is not mapped after a filter was compiled")
    }
}
