import IPVSCore

/// The command line of `ipvsctl verify` (the words after `verify`). The capture and the report live in the ipvsctl
/// executable (Verify.swift, above IPVSTap); the options are here, in one table (``IPVSCtlOptionDocs/verifyOptions``)
/// that the parser, the usage text, the man page and the completions all read.
///
///     ipvsctl verify (--interface IF | --read FILE) [--count N] [--duration SECONDS]
///                    [-t|-u|--sctp-service ADDRESS:PORT]... [-f MARK]... [--json]
///                    [--lifecycle tracked|inactive|active] [--kernel-counters] [--lag SECONDS]
public struct IPVSCtlVerifyCommand: Sendable {
    public var interface: String? = nil
    public var readFile: String? = nil
    public var count: Int? = nil
    public var duration: Double? = nil
    public var services: [ServiceKey] = []
    public var json = false
    public var lifecycle = "tracked"
    /// --read only: start from the kernel's current counters rather than zero.
    public var kernelCounters = false
    public var lagSeconds = 1.0

    public init() {}

    public struct UsageError: Error, Sendable {
        public var message: String
    }

    /// `ipvsctl verify`'s usage, printed after a usage error.
    public static var usage: String {
        var out = "Usage: ipvsctl verify (--interface IF | --read FILE.pcap) [options]\n"
        out += IPVSCtlDocumentation.wrap(IPVSCtlDocumentation.verifySummary, indent: 0, width: 100) + "\n"
        for option in IPVSCtlOptionDocs.verifyOptions {
            var head = option.spellings.count == 1 && option.spellings[0].hasPrefix("--") ? "      " : "  "
            head += option.spellings.joined(separator: ", ")
            if let argument = option.argument { head += " " + argument }
            out += head + "\n" + IPVSCtlDocumentation.wrap(option.text, indent: 8, width: 100) + "\n"
        }
        return out
    }

    public static func parse(_ arguments: [String]) throws(UsageError) -> IPVSCtlVerifyCommand {
        var c = IPVSCtlVerifyCommand()
        var i = 0
        func value(_ option: String) throws(UsageError) -> String {
            i += 1
            guard i < arguments.count else { throw UsageError(message: "\(option) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            let a = arguments[i]
            switch a {
            case "-i", "--interface": c.interface = try value(a)
            case "-r", "--read": c.readFile = try value(a)
            case "-c", "--count":
                let v = try value(a)
                guard let n = Int(v), n > 0 else { throw UsageError(message: "\(a): not a positive number: \(v)") }
                c.count = n
            case "-d", "--duration":
                let v = try value(a)
                guard let d = Double(v), d > 0, d.isFinite else {
                    throw UsageError(message: "\(a): not a positive number: \(v)")
                }
                c.duration = d
            case "-t", "--tcp-service": c.services.append(try service(.tcp, try value(a), a))
            case "-u", "--udp-service": c.services.append(try service(.udp, try value(a), a))
            case "--sctp-service": c.services.append(try service(.sctp, try value(a), a))
            case "-f", "--fwmark-service":
                let v = try value(a)
                guard let mark = UInt32(v), mark > 0 else { throw UsageError(message: "\(a): not a mark: \(v)") }
                c.services.append(.firewallMark(mark, .inet))
            case "--json": c.json = true
            case "--kernel-counters": c.kernelCounters = true
            case "--lifecycle":
                let v = try value(a)
                guard IPVSCtlOptionDocs.lifecycleValues.contains(v) else {
                    throw UsageError(message: "--lifecycle: tracked, inactive or active, not \(v)")
                }
                c.lifecycle = v
            case "--lag":
                let v = try value(a)
                guard let d = Double(v), d >= 0, d.isFinite else {
                    throw UsageError(message: "--lag: not a number: \(v)")
                }
                c.lagSeconds = d
            default:
                throw UsageError(message: "unknown option \(a)")
            }
            i += 1
        }
        guard (c.interface == nil) != (c.readFile == nil) else {
            throw UsageError(message: "give one of --interface and --read")
        }
        if c.readFile != nil && (c.count != nil || c.duration != nil) {
            throw UsageError(message: "--count and --duration are for a live capture (--interface)")
        }
        if c.interface != nil && c.kernelCounters {
            throw UsageError(message: "--kernel-counters is for --read (a live capture always starts from them)")
        }
        return c
    }

    /// "10.96.0.1:80" or "[2001:db8::1]:80" (numeric, as `ipvsadm -n` prints them).
    static func service(_ p: IPProtocol, _ text: String, _ option: String) throws(UsageError) -> ServiceKey {
        var host = Substring(text), port: Substring = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { port = rest.dropFirst() }
        } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let address = IPAddress(host), let number = UInt16(port) else {
            throw UsageError(message: "\(option): not ADDRESS:PORT: \(text)")
        }
        return .address(p, address, port: number)
    }
}

extension IPVSCtlOptionDocs {
    static let lifecycleValues = ["tracked", "inactive", "active"]

    /// The options of `ipvsctl verify`, in the order its usage lists them (parsed by
    /// ``IPVSCtlVerifyCommand/parse(_:)``; IPVSCtlDocumentationTests checks that it accepts every one listed here).
    public static let verifyOptions: [SubcommandOption] = [
        SubcommandOption(
            spellings: ["-i", "--interface"], argument: "IF",
            text: "Capture live on IF in this network namespace (any: every interface).", values: []),
        SubcommandOption(
            spellings: ["-r", "--read"], argument: "FILE", text: "Read a pcap or pcapng capture instead.", values: []),
        SubcommandOption(
            spellings: ["-c", "--count"], argument: "N", text: "Live: stop after N new connections.", values: []),
        SubcommandOption(
            spellings: ["-d", "--duration"], argument: "SECONDS",
            text: "Live: stop after SECONDS (default: at --count, or at Ctrl-C).", values: []),
        SubcommandOption(
            spellings: ["-t", "--tcp-service"], argument: "ADDRESS:PORT",
            text: "Watch this TCP service (repeatable; default: every service).", values: []),
        SubcommandOption(
            spellings: ["-u", "--udp-service"], argument: "ADDRESS:PORT", text: "Watch this UDP service.", values: []),
        SubcommandOption(
            spellings: ["--sctp-service"], argument: "ADDRESS:PORT", text: "Watch this SCTP service.", values: []),
        SubcommandOption(
            spellings: ["-f", "--fwmark-service"], argument: "MARK", text: "Watch this firewall-mark service.",
            values: []),
        SubcommandOption(
            spellings: ["--json"], argument: nil,
            text: "The report as JSON (schema swift-ipvs/verify-report/1).", values: []),
        SubcommandOption(
            spellings: ["--lifecycle"], argument: "MODE",
            text: "tracked (default: every captured packet drives the kernel's state machine), inactive or active "
                + "(what the lc family's counters assume of every connection).",
            values: lifecycleValues),
        SubcommandOption(
            spellings: ["--kernel-counters"], argument: nil,
            text: "With --read: start from the kernel's counters now (default: zero, a capture that began on a "
                + "fresh table).",
            values: []),
        SubcommandOption(
            spellings: ["--lag"], argument: "SECONDS",
            text: "How long a new connection waits for its forwarded copy (default 1).", values: []),
    ]
}
