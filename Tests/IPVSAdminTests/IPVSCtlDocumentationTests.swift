import Foundation
import IPVSAdmin
import IPVSCore
import Testing

/// The man page and the completion scripts are generated from the parser's tables: the committed copies
/// (docs/ipvsctl.8, docs/completions/) are what the generator writes now, every option of the parser and every
/// extension is in each, and the scripts work in their shells (bash is always there; zsh and fish are checked when
/// installed, and the skip says so).
struct IPVSCtlDocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let generated: [(path: String, text: String)] = [
        ("docs/ipvsctl.8", IPVSCtlDocumentation.manual()),
        ("docs/completions/ipvsctl.bash", IPVSCtlDocumentation.completionScript(.bash)),
        ("docs/completions/_ipvsctl", IPVSCtlDocumentation.completionScript(.zsh)),
        ("docs/completions/ipvsctl.fish", IPVSCtlDocumentation.completionScript(.fish)),
    ]

    /// `IPVSCTL_REGENERATE_DOCS=1` rewrites the committed copies (after a deliberate change of the tables).
    @Test func committedCopiesAreWhatTheGeneratorWrites() throws {
        for (path, text) in Self.generated {
            let url = Self.root.appendingPathComponent(path)
            if ProcessInfo.processInfo.environment["IPVSCTL_REGENERATE_DOCS"] != nil {
                try text.write(to: url, atomically: true, encoding: .utf8)
            }
            let committed = try Data(contentsOf: url)
            #expect(
                committed == Data(text.utf8),
                "\(path) is stale: IPVSCTL_REGENERATE_DOCS=1 swift test --filter IPVSCtlDocumentationTests rewrites it")
        }
        // Generating twice gives the same bytes (no date, no hash order).
        #expect(IPVSCtlDocumentation.manual() == IPVSCtlDocumentation.manual())
    }

    @Test func everyParserOptionAndExtensionIsInTheManPageAndEveryCompletion() {
        let manual = IPVSCtlDocumentation.manual()
        // roff writes '-' as '\-'.
        func roff(_ s: String) -> String { s.replacingOccurrences(of: "-", with: "\\-") }
        var spellings: [(long: String, short: String?)] = OptionSpec.ipvsadm.map {
            ($0.long, $0.short.map { "-" + String(UnicodeScalar($0)) })
        }
        spellings += IPVSCtlExtensions.options.map { ($0.long, nil) }
        #expect(spellings.count == OptionSpec.ipvsadm.count + IPVSCtlExtensions.options.count)
        for (long, short) in spellings {
            #expect(manual.contains("\\fB" + roff("--" + long) + "\\fR"), "man page: --\(long)")
            if let short { #expect(manual.contains("\\fB" + roff(short) + "\\fR"), "man page: \(short)") }
            for shell in IPVSCtlExtensions.Shell.allCases {
                let script = IPVSCtlDocumentation.completionScript(shell)
                switch shell {
                case .bash, .zsh:
                    #expect(script.contains("--" + long), "\(shell): --\(long)")
                    if let short { #expect(script.contains(short), "\(shell): \(short)") }
                case .fish:
                    #expect(script.contains(" -l \(long) ") || script.contains(" -l \(long)\n"), "fish: --\(long)")
                    if let short { #expect(script.contains(" -s \(short.dropFirst()) "), "fish: \(short)") }
                }
            }
        }
    }

    /// predict parses its own options; every one the documents list must be one it accepts, and each is in the man
    /// page and the completions.
    @Test func everyDocumentedPredictOptionIsAcceptedAndDocumented() throws {
        let manual = IPVSCtlDocumentation.manual()
        for option in IPVSCtlOptionDocs.predictOptions {
            for spelling in option.spellings {
                var words = ["--client", "10.1.1.1"]
                switch spelling {
                case "-f", "--fwmark-service": words += [spelling, "5", "--to", "10.0.0.1:80"]
                case "-6", "--ipv6":
                    words = ["-f", "5", spelling, "--to", "[2001:db8::1]:80", "--client", "2001:db8::9"]
                case "--to": words += ["-f", "5", "--to", "10.0.0.1:80"]
                case "--protocol": words += ["-f", "5", "--to", "10.0.0.1:80", "--protocol", option.values[1]]
                case "--client": words = ["-t", "10.0.0.1:80", "--client", "10.1.1.1:4000"]
                case "--json": words += ["-t", "10.0.0.1:80", "--json"]
                default: words += [spelling, "10.0.0.1:80"]
                }
                do throws(IPVSAdmExit) { _ = try IPVSCtlPredictCommand.parse(words) } catch {
                    Issue.record("predict \(words): \(error.standardError)")
                }
                #expect(manual.contains("\\fB" + spelling.replacingOccurrences(of: "-", with: "\\-") + "\\fR"))
            }
            let long = option.spellings.last!
            for shell in IPVSCtlExtensions.Shell.allCases {
                let script = IPVSCtlDocumentation.completionScript(shell)
                #expect(script.contains(shell == .fish ? "-l \(long.dropFirst(2))" : long), "\(shell): \(long)")
            }
        }
        // And predict refuses what it does not know, so the check above can fail.
        #expect(throws: IPVSAdmExit.self) { try IPVSCtlPredictCommand.parse(["-t", "10.0.0.1:80", "--nosuch"]) }
    }

    /// verify's options come from one table: the parser accepts each listed spelling, refuses others, and each is
    /// in its usage, the man page and every completion script.
    @Test func everyDocumentedVerifyOptionIsAcceptedAndDocumented() throws {
        let manual = IPVSCtlDocumentation.manual()
        let usage = IPVSCtlVerifyCommand.usage
        for option in IPVSCtlOptionDocs.verifyOptions {
            for spelling in option.spellings {
                var words: [String]
                switch spelling {
                case "-i", "--interface": words = [spelling, "lo"]
                case "-r", "--read": words = [spelling, "capture.pcap"]
                case "-c", "--count", "-d", "--duration": words = ["--interface", "lo", spelling, "5"]
                case "-f", "--fwmark-service": words = ["--read", "c.pcap", spelling, "7"]
                case "--lifecycle": words = ["--read", "c.pcap", spelling, option.values[1]]
                case "--lag": words = ["--read", "c.pcap", spelling, "0.5"]
                case "--json", "--kernel-counters": words = ["--read", "c.pcap", spelling]
                default: words = ["--read", "c.pcap", spelling, "10.0.0.1:80"]
                }
                do throws(IPVSCtlVerifyCommand.UsageError) { _ = try IPVSCtlVerifyCommand.parse(words) } catch {
                    Issue.record("verify \(words): \(error.message)")
                }
                #expect(manual.contains("\\fB" + spelling.replacingOccurrences(of: "-", with: "\\-") + "\\fR"))
                #expect(usage.contains(spelling), "usage: \(spelling)")
            }
            let long = option.spellings.last!
            for shell in IPVSCtlExtensions.Shell.allCases {
                let script = IPVSCtlDocumentation.completionScript(shell)
                #expect(script.contains(shell == .fish ? "-l \(long.dropFirst(2))" : long), "\(shell): \(long)")
            }
        }
        // What the parser does with the values: parsed, not just accepted.
        let parsed = try IPVSCtlVerifyCommand.parse(
            ["-i", "any", "-c", "12", "-t", "[2001:db8::1]:443", "-u", "10.0.0.1:53", "-f", "9", "--lag", "2"])
        #expect(parsed.interface == "any" && parsed.count == 12 && parsed.lagSeconds == 2)
        #expect(parsed.services == [
            .address(.tcp, IPAddress("2001:db8::1")!, port: 443), .address(.udp, IPAddress("10.0.0.1")!, port: 53),
            .firewallMark(9, .inet),
        ])
        // And it refuses what it does not know or what does not fit, so the checks above can fail.
        for bad in [["--read", "c.pcap", "--nosuch"], ["--read", "c.pcap", "--count", "3"], ["-i", "lo", "-r", "f"],
                    ["-i", "lo", "--kernel-counters"], ["-i", "lo", "-d", "0"], ["-r", "f", "-t", "10.0.0.1"],
                    ["-r", "f", "--lifecycle", "sometimes"], ["-i", "lo", "-d", "inf"], []] {
            #expect(throws: IPVSCtlVerifyCommand.UsageError.self, "\(bad)") { try IPVSCtlVerifyCommand.parse(bad) }
        }
    }

    /// The man page's per-command lines come from CommandOptionMatrix.
    @Test func theManPageSaysWhatEachCommandTakesAsTheMatrixDoes() {
        let manual = IPVSCtlDocumentation.manual()
        #expect(manual.contains("Requires one of \\-\\-tcp\\-service, \\-\\-udp\\-service, \\-\\-sctp\\-service or "
            + "\\-\\-fwmark\\-service and \\-\\-real\\-server."))
        // -S takes -n only; -C takes nothing (no "Takes" line after it).
        #expect(manual.contains("Write the table as commands \\-\\-restore reads.\nTakes \\-\\-numeric.\n"))
        #expect(manual.contains(".TP\n\\fB\\-C\\fR, \\fB\\-\\-clear\\fR\nDelete every virtual service.\n.TP\n"))
    }

    /// bash: the script loads, and completes what the tables say for a command, an option's values and --netns.
    @Test func bashCompletesCommandsOptionsAndValues() throws {
        func complete(_ words: [String]) throws -> [String] {
            let script = IPVSCtlDocumentation.completionScript(.bash)
            let array = words.map { "'\($0)'" }.joined(separator: " ")
            let program = script + "\nCOMP_WORDS=(\(array)); COMP_CWORD=\(words.count - 1); _ipvsctl; "
                + "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
            let result = try Self.run("/bin/bash", ["-c", program])
            #expect(result.status == 0, "\(result.error)")
            return result.output.split(separator: "\n").map(String.init)
        }
        #expect(try complete(["ipvsctl", "-A", "--sch"]) == ["--scheduler", "--sched-flags"])
        #expect(try complete(["ipvsctl", "-A", "-t", "1.2.3.4:80", "-s", "w"]) == ["wrr", "wlc"])
        #expect(try complete(["ipvsctl", "--tun-type", ""]) == ["ipip", "gue", "gre"])
        // The matrix: -C takes no option but --netns; -D refuses a scheduler.
        #expect(try complete(["ipvsctl", "-C", "--"]) == ["--netns"])
        #expect(try !complete(["ipvsctl", "-D", "--"]).contains("--scheduler"))
        #expect(try complete(["ipvsctl", "-L", "--js"]) == ["--json"])
        #expect(try complete(["ipvsctl", "-a", "--js"]).isEmpty)
        #expect(try complete(["ipvsctl", "--generate-completion-script", "z"]) == ["zsh"])
        #expect(try complete(["ipvsctl", "pre"]) == ["predict"])
        #expect(try complete(["ipvsctl", "predict", "-t", "10.0.0.1:80", "--cl"]) == ["--client"])
        #expect(try complete(["ipvsctl", "predict", "-f", "5", "--protocol", "u"]) == ["udp"])
        #expect(try complete(["ipvsctl", "ver"]) == ["verify"])
        #expect(try complete(["ipvsctl", "verify", "--read", "c.pcap", "--life"]) == ["--lifecycle"])
        #expect(try complete(["ipvsctl", "verify", "--lifecycle", "in"]) == ["inactive"])
        #expect(try complete(["ipvsctl", "verify", "--interface", "l"]).contains("lo"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zsh"), "zsh is not installed"))
    func zshLoadsTheScript() throws {
        let script = IPVSCtlDocumentation.completionScript(.zsh)
        let result = try Self.run("/usr/bin/zsh", ["-n", "-c", script])
        #expect(result.status == 0, "\(result.error)")
        #expect(script.hasPrefix("#compdef ipvsctl\n"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/fish"), "fish is not installed"))
    func fishLoadsTheScriptAndCompletes() throws {
        let script = IPVSCtlDocumentation.completionScript(.fish)
        let file = NSTemporaryDirectory() + "ipvsctl-completion-\(getpid()).fish"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try Self.run(
            "/usr/bin/fish", ["--no-config", "-c", "source \(file); complete -C 'ipvsctl --tun-t'"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.hasPrefix("--tun-type"), "\(result.output)")
        // The commands beyond ipvsadm's are offered as the first word.
        let commands = try Self.run("/usr/bin/fish", ["--no-config", "-c", "source \(file); complete -C 'ipvsctl '"])
        let first = commands.output.split(separator: "\n").map { String($0.prefix { $0 != "\t" }) }
        #expect(first.contains("predict") && first.contains("verify"), "\(commands.output)")
        let after = try Self.run(
            "/usr/bin/fish", ["--no-config", "-c", "source \(file); complete -C 'ipvsctl verify --read x '"])
        #expect(!after.output.contains("predict"), "\(after.output)")
        let values = try Self.run(
            "/usr/bin/fish", ["--no-config", "-c", "source \(file); complete -C 'ipvsctl --tun-type '"])
        #expect(values.output.split(separator: "\n").map { String($0.prefix { $0 != "\t" }) } == ["gre", "gue", "ipip"]
            || values.output.split(separator: "\n").map { String($0.prefix { $0 != "\t" }) } == ["ipip", "gue", "gre"],
            "\(values.output)")
    }

    struct Run {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
            error: String(decoding: error, as: UTF8.self))
    }
}
