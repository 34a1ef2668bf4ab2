import Foundation
import IPVSAdmin
import Testing

/// Every command line of ``IPVSAdmCommandLines`` given to Debian's real ipvsadm 1.31 and to ``IPVSAdmParser``:
/// where ipvsadm refuses the line, the exit status, stderr and stdout must be the same byte for byte; where it
/// accepts it, the parser must accept it too.
///
/// ipvsadm connects to IPVS before it reads its arguments, and this host's kernel has none; the test preloads
/// Fixtures/ipvsadm-without-kernel.c (compiled here with `cc`) so that it gets past that and parses. Skipped only
/// when ipvsadm or a C compiler is missing (tools/test installs ipvsadm).
@Suite(.enabled(if: RealIpvsadm.available, "needs /usr/sbin/ipvsadm and cc"))
struct IPVSAdmParserDifferentialTests {
    @Test func everyCommandLineFailsOrPassesAsIpvsadmDoes() throws {
        let shim = try RealIpvsadm.shim()
        var compared = 0
        for words in IPVSAdmCommandLines.all {
            let real = try RealIpvsadm.run(words, preload: shim)
            let ours: IPVSAdmExit?
            do throws(IPVSAdmExit) {
                _ = try IPVSAdmParser.parse([RealIpvsadm.path] + words)
                ours = nil
            } catch { ours = error }
            let line = words.map { $0.isEmpty || $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
            if RealIpvsadm.accepted(real) {
                #expect(ours == nil, "ipvsadm \(line): ipvsadm accepted it (\(real)), ipvsctl: \(ours!)")
                continue
            }
            guard let ours else {
                Issue.record("ipvsadm \(line): ipvsadm refused it (\(real)), ipvsctl accepted it")
                continue
            }
            if real.status == 0 && real.standardOutput.hasPrefix("ipvsadm v") {
                // -v: ipvsctl names itself; only the status and the stream are compared.
                #expect(ours.status == 0 && !ours.standardOutput.isEmpty && ours.standardError.isEmpty, "\(line)")
                continue
            }
            #expect(ours.status == real.status, "ipvsadm \(line): status")
            #expect(ours.standardError == real.standardError, "ipvsadm \(line): stderr")
            #expect(ours.standardOutput == real.standardOutput, "ipvsadm \(line): stdout")
            compared += 1
        }
        // Most lines are refusals: the comparison must have run on them, not been skipped.
        #expect(compared > 150)
    }
}

/// Debian's ipvsadm, run without IPVS in the kernel.
enum RealIpvsadm {
    static let path = "/usr/sbin/ipvsadm"
    static let available = FileManager.default.isExecutableFile(atPath: path)
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/cc")

    struct Result: CustomStringConvertible {
        var status: Int32
        var standardOutput: String
        var standardError: String
        var description: String { "status \(status), stderr \(standardError.debugDescription)" }
    }

    /// What ipvsadm prints once it has parsed a line and reached for the kernel (see the fixture).
    static let reachedTheKernel: Set<String> = [
        "Memory page has hardware error\n",  // EHWPOISON from the fixture
        "Operation not supported with specified address family\n",  // libipvs's raw-socket path refuses IPv6
        "cannot open file /proc/net/ip_vs_conn\n",  // -c
        "",  // --timeout and --daemon fail silently
    ]

    static func accepted(_ r: Result) -> Bool { r.status != 0 && reachedTheKernel.contains(r.standardError) }

    /// Compiles the fixture once per process (a static is initialised once, whichever suite asks first; suites run
    /// in parallel), into a temporary name renamed into place, so no run ever preloads a half-written library.
    static func shim() throws -> String {
        switch compiledShim {
        case .success(let path): return path
        case .failure(let error): throw error
        }
    }

    struct CompileFailure: Error {}

    static let compiledShim: Swift.Result<String, any Error> = Swift.Result {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ipvsadm-without-kernel.c").path
        let output = FileManager.default.temporaryDirectory
            .appendingPathComponent("ipvsadm-without-kernel-\(getpid()).so").path
        let partial = output + ".partial"
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-o", partial, source, "-ldl"]
        try cc.run()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0, rename(partial, output) == 0 else { throw CompileFailure() }
        return output
    }

    static func run(_ words: [String], preload: String, environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = words
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = preload
        environment.removeValue(forKey: "POSIXLY_CORRECT")
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: stdout, as: UTF8.self),
            standardError: String(decoding: stderr, as: UTF8.self))
    }
}
