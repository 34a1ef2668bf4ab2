import Foundation
import Glibc

/// What a finished command did.
struct CommandResult: Sendable, CustomStringConvertible {
    /// The executable's path, then its arguments.
    var arguments: [String]
    /// The exit status, or 128 + the signal number when a signal ended it (as a shell reports it).
    var status: Int32
    var standardOutput: String
    var standardError: String
    /// True when the command ran past its time limit and was killed.
    var timedOut: Bool

    var succeeded: Bool { status == 0 && !timedOut }

    var description: String {
        var text = "`\(arguments.joined(separator: " "))` "
        text += timedOut ? "timed out" : "exited with status \(status)"
        if !standardOutput.isEmpty { text += "\nstdout:\n\(standardOutput)" }
        if !standardError.isEmpty { text += "\nstderr:\n\(standardError)" }
        return text
    }
}

/// A command that did not succeed; its description has everything the command printed.
struct CommandFailure: Error, CustomStringConvertible {
    var result: CommandResult
    var description: String { result.description }
}

/// Runs the host's tools (ip, ipvsadm, busybox, tcpdump) from tests.
///
/// Always pass the full path of the executable (see ``Tool``): Debian's busybox-static ships applets with the same
/// names as the real tools, and its `ip` has no `netns`.
enum Command {
    /// Runs a command to completion and returns what it did, whatever its status.
    static func run(
        _ executable: String,
        _ arguments: [String] = [],
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> CommandResult {
        let process = try BackgroundProcess(executable, arguments, input: input)
        return process.wait(timeout: timeout)
    }

    /// Runs a command and returns its standard output; throws ``CommandFailure`` unless it exits 0.
    @discardableResult
    static func check(
        _ executable: String,
        _ arguments: [String] = [],
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> String {
        let result = try run(executable, arguments, input: input, timeout: timeout)
        guard result.succeeded else { throw CommandFailure(result: result) }
        return result.standardOutput
    }
}

/// `posix_spawn` failed.
struct SpawnFailure: Error, CustomStringConvertible {
    var arguments: [String]
    var errno: Int32
    var description: String {
        "cannot start `\(arguments.joined(separator: " "))`: \(String(cString: strerror(errno)))"
    }
}

/// A command running alongside the test (a server, a packet capture), or one being waited for. Stopping it, or
/// dropping the last reference, signals it and waits for it to end.
///
/// Started with `posix_spawn` rather than Foundation's `Process`, because tests run on dispatch worker threads,
/// which block most signals, and `Process` hands that signal mask to the child: SIGTERM then never reaches it.
/// Here the child starts with an empty mask and default signal actions. Output goes to temporary files rather than
/// pipes: a daemon that a command leaves behind keeps its inherited descriptors, and a pipe would then never reach
/// end-of-file.
final class BackgroundProcess: @unchecked Sendable {
    // @unchecked: the mutable state (`result`) is touched only by the test that owns the process.
    let arguments: [String]
    let processIdentifier: pid_t
    private let inputURL: URL?
    private let outputURL: URL
    private let errorURL: URL
    private var result: CommandResult?

    /// Starts `executable` with `arguments`; `input`, if any, is its standard input (otherwise /dev/null).
    init(_ executable: String, _ arguments: [String], input: String? = nil) throws {
        self.arguments = [executable] + arguments
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-test-\(UUID().uuidString)")
        outputURL = base.appendingPathExtension("out")
        errorURL = base.appendingPathExtension("err")
        if let input {
            let url = base.appendingPathExtension("in")
            try Data(input.utf8).write(to: url)
            inputURL = url
        } else {
            inputURL = nil
        }

        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, inputURL?.path ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, outputURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&fileActions, 2, errorURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        // Ignored signals stay ignored across exec; handled ones reset by themselves.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = self.arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, executable, &fileActions, &attributes, argv, environ)
        guard error == 0 else { throw SpawnFailure(arguments: self.arguments, errno: error) }
        processIdentifier = pid
    }

    deinit {
        stop()
        for url in [inputURL, outputURL, errorURL].compactMap({ $0 }) { try? FileManager.default.removeItem(at: url) }
    }

    /// What it has written to standard output so far.
    var standardOutput: String { (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "" }
    /// What it has written to standard error so far.
    var standardError: String { (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "" }

    /// True until it has ended (and been reaped, which happens here: this checks).
    var isRunning: Bool { result == nil && reap(timedOut: false) == nil }

    /// Waits for it to end on its own; past `timeout` it is killed and the result says so.
    func wait(timeout: Duration) -> CommandResult {
        if let result = waitForEnd(within: timeout, timedOut: false) { return result }
        kill(processIdentifier, SIGKILL)
        return waitForEnd(within: nil, timedOut: true)!
    }

    /// Sends `signal` and waits for the end, killing it if it takes longer than `grace`.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, grace: Duration = .seconds(10)) -> CommandResult {
        if let result { return result }
        kill(processIdentifier, signal)
        if let result = waitForEnd(within: grace, timedOut: false) { return result }
        kill(processIdentifier, SIGKILL)
        return waitForEnd(within: nil, timedOut: false)!
    }

    /// Polls for the end (`waitpid` with WNOHANG, from every 1 ms up to every 20 ms) until `limit`, or forever.
    private func waitForEnd(within limit: Duration?, timedOut: Bool) -> CommandResult? {
        let clock = ContinuousClock()
        let deadline = limit.map { clock.now + $0 }
        var pause = Duration.milliseconds(1)
        while true {
            if let result = result ?? reap(timedOut: timedOut) { return result }
            if let deadline, clock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: pause.timeInterval)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// Reaps the process if it has ended, recording the result.
    private func reap(timedOut: Bool) -> CommandResult? {
        if let result { return result }
        var status: Int32 = 0
        let reaped = waitpid(processIdentifier, &status, WNOHANG)
        guard reaped == processIdentifier || (reaped == -1 && errno == ECHILD) else { return nil }
        // The wait status: exit code in bits 8-15 when the low 7 bits are 0, otherwise the signal that ended it.
        let signal = status & 0x7f
        let result = CommandResult(
            arguments: arguments,
            status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
            standardOutput: standardOutput,
            standardError: standardError,
            timedOut: timedOut
        )
        self.result = result
        return result
    }
}

extension Duration {
    /// Seconds, for the APIs that still take a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
