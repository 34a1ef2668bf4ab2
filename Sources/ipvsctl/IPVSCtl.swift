import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

/// The program, step by step as ipvsadm's `main` and `process_options` run: connect to IPVS first (loading the
/// module if it is missing), list when there are no arguments, otherwise parse and run one command.
enum IPVSCtl {
    static func run(_ commandLine: [String]) -> Int32 {
        let output = Output()
        defer { output.flush() }
        // ipvsctl's own options (--json, --netns, help and generators) out, the namespace entered: IPVSCtl+Extensions.
        let extensions: IPVSCtlExtensions, arguments: [String]
        switch prepare(commandLine, output) {
        case .success(let prepared): (extensions, arguments) = prepared
        case .failure(let exit): return exit.status
        }
        // Beyond ipvsadm: `ipvsctl predict …` (Predict.swift) and `ipvsctl verify …` (Verify.swift) are ipvsctl's
        // own commands, so their command lines are checked before the kernel is opened (a usage error needs no
        // IPVS); `-R --dry-run` (RestoreDryRun.swift) keeps ipvsadm's order.
        var subcommand: Subcommand? = nil
        if arguments.count > 1 && arguments[1] == "predict" {
            do throws(IPVSAdmExit) {
                var command = try IPVSCtlPredictCommand.parse(Array(arguments.dropFirst(2)))
                if extensions.json { command.json = true }  // --json was taken out of the line (IPVSCtlExtensions)
                subcommand = .predict(command)
            } catch {
                output.out(error.standardOutput)
                if !error.standardError.isEmpty { output.error(error.standardError) }
                return error.status
            }
        } else if arguments.count > 1 && arguments[1] == "verify" {
            do throws(IPVSCtlVerifyCommand.UsageError) {
                var command = try IPVSCtlVerifyCommand.parse(Array(arguments.dropFirst(2)))
                if extensions.json { command.json = true }
                subcommand = .verify(command)
            } catch {
                output.error("ipvsctl verify: \(error.message)\n" + IPVSCtlVerifyCommand.usage)
                return 2
            }
        }
        var session: Session
        do throws(IPVSError) {
            session = try connect(output)
        } catch {
            output.error(
                "Can't initialize ipvs: \(IPVSAdmErrorText.message(.initialize, error))\n"
                    + "Are you sure that IP Virtual Server is built in the kernel or as module?\n")
            return 2
        }
        switch subcommand {
        case .predict(let command)?: return session.predict(command)
        case .verify(let command)?: return session.verify(command)
        case nil: break
        }
        if extensions.dryRun { return session.dryRun(arguments, json: extensions.json) }
        if extensions.json { return session.processJSON(arguments) }
        if arguments.count == 1 {
            return session.listAll(format: [])
        }
        return session.process(arguments, readingRestore: false)
    }

    enum Subcommand {
        case predict(IPVSCtlPredictCommand)
        case verify(IPVSCtlVerifyCommand)
    }

    /// ipvsadm `ipvs_init`, then `modprobe -- ip_vs` and a second try when the first fails.
    static func connect(_ output: Output) throws(IPVSError) -> Session {
        do throws(IPVSError) {
            var handle = try IPVSHandle()
            let info = try handle.info()
            return Session(handle: handle, info: info, output: output)
        } catch {
            guard modprobe() else { throw error }
            var handle = try IPVSHandle()
            let info = try handle.info()
            return Session(handle: handle, info: info, output: output)
        }
    }

    /// ipvsadm `modprobe_ipvs`: runs `/sbin/modprobe -- ip_vs` with this process's output; true when it exits 0.
    static func modprobe() -> Bool {
        var pid: pid_t = 0
        let words: [String] = ["/sbin/modprobe", "--", "ip_vs"]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        guard posix_spawn(&pid, "/sbin/modprobe", nil, nil, argv, environ) == 0 else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return false }
        }
        return status & 0x7f == 0 && (status >> 8) & 0xff == 0
    }
}

/// stdout and stderr, buffered as C's stdio buffers them when they are not terminals: stderr is written at once,
/// stdout when it is flushed.
final class Output {
    var buffer: [UInt8] = []

    func out(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func error(_ s: String) { write(2, s) }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { Output.writeAll(1, $0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func write(_ fd: Int32, _ s: String) {
        var s = s
        s.withUTF8 { Output.writeAll(fd, UnsafeRawBufferPointer($0)) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }
}
