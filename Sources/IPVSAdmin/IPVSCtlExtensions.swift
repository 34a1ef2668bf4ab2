/// The options ipvsctl has beyond ipvsadm's (`--json`, `--netns`, the help and generator options), taken out of the
/// process's command line before ipvsadm's parser sees the rest, so that ipvsadm's parsing, messages and statuses
/// stay exactly ipvsadm's for every line without them.
///
/// They are recognised as whole words anywhere before a `--` word (popt's end of options), whatever precedes them:
/// `-s --json` is a scheduler-less `-s` and `--json` here, where ipvsadm would take "--json" as the scheduler name
/// (which no kernel has). They apply to the process: lines read by `-R` are ipvsadm lines only.
public struct IPVSCtlExtensions: Hashable, Sendable {
    /// One option of the table: its long name (no leading dashes), the name of its argument (nil: none), what it
    /// does, and the words a shell may complete its argument with.
    public struct Option: Hashable, Sendable {
        public var long: String
        public var argument: String?
        public var summary: String
        public var values: [String]
        /// Not shown by the ipvsadm-compatible `-h` nor by `--help-extensions`' short list (the generators).
        public var isGenerator: Bool

        init(_ long: String, _ argument: String?, _ summary: String, values: [String] = [], generator: Bool = false) {
            self.long = long
            self.argument = argument
            self.summary = summary
            self.values = values
            self.isGenerator = generator
        }
    }

    public enum Shell: String, Hashable, Sendable, CaseIterable { case bash, zsh, fish }

    /// Every extension option: what the pre-parser accepts and what `--help-extensions`, the man page and the shell
    /// completions document.
    public static let options: [Option] = [
        Option(
            "json", nil,
            "Print the listing (-L/-l with any listing option, -L SERVICE, -c, --timeout, --daemon) or the rules "
                + "(-S) as one JSON document of the schema in docs/ipvsctl-json.md."),
        Option(
            "netns", "name",
            "Run the command in the network namespace NAME (/run/netns/NAME, as `ip netns add` makes it), or in the "
                + "one at a path when NAME contains a slash (/proc/PID/ns/net); -c, -R and --start-daemon included."),
        Option(
            "dry-run", nil,
            "With -R: read the restore input as -R does and apply it to a copy of the live table only. Print the "
                + "changes it would make, the lines that would fail (with -R's messages, on stderr) and the table it "
                + "would leave (as -Sn lists it), and exit with -R's status. The kernel is only read."),
        Option("help-extensions", nil, "Print what ipvsctl adds to ipvsadm's command line."),
        Option(
            "generate-completion-script", "shell", "Print the completion script for bash, zsh or fish.",
            values: Shell.allCases.map(\.rawValue), generator: true),
        Option("generate-manual", nil, "Print the ipvsctl(8) manual page (roff).", generator: true),
    ]

    public var json = false
    /// `--dry-run` (with -R): `IPVSAdmRestoreSimulation`.
    public var dryRun = false
    /// The `--netns` argument: a name under /run/netns, or a path when it contains a slash.
    public var networkNamespace: String?
    public var helpExtensions = false
    public var completionShell: Shell?
    public var manual = false

    public init() {}

    /// True when an option asks for text that needs no kernel (help, a generator).
    public var printsDocumentation: Bool { helpExtensions || completionShell != nil || manual }

    /// Splits `arguments` (`arguments[0]` is the program) into the extensions and ipvsadm's command line. Fails with
    /// ipvsadm's status for a refused command line (2) and a message naming the option.
    public static func extract(_ arguments: [String]) throws(IPVSAdmExit) -> (IPVSCtlExtensions, [String]) {
        var found = IPVSCtlExtensions()
        var rest: [String] = []
        var seen: Set<String> = []
        var index = 0
        var optionsEnded = false
        // Where --json was, for `predict`, which reads its own --json (see the end).
        var jsonIndex: Int?
        func fail(_ message: String) -> IPVSAdmExit { .fail("ipvsctl: " + message) }
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if index == 1 || optionsEnded || !word.hasPrefix("--") {
                rest.append(word)
                continue
            }
            if word == "--" {
                optionsEnded = true
                rest.append(word)
                continue
            }
            let body = word.dropFirst(2)
            let name = body.prefix { $0 != "=" }
            guard let option = options.first(where: { $0.long == name }) else {
                rest.append(word)
                continue
            }
            if !seen.insert(option.long).inserted { throw fail("multiple '--\(option.long)' options specified") }
            var argument: String?
            if body.count > name.count {
                guard option.argument != nil else { throw fail("--\(option.long) takes no argument") }
                argument = String(body.dropFirst(name.count + 1))
            } else if option.argument != nil {
                guard index < arguments.count else {
                    throw fail("--\(option.long) needs a \(option.argument!) argument")
                }
                argument = arguments[index]
                index += 1
            }
            switch option.long {
            case "json":
                found.json = true
                jsonIndex = rest.count
            case "dry-run": found.dryRun = true
            case "netns":
                guard let argument, !argument.isEmpty else { throw fail("--netns needs a network namespace name") }
                found.networkNamespace = argument
            case "help-extensions": found.helpExtensions = true
            case "generate-completion-script":
                guard let shell = argument.flatMap(Shell.init(rawValue:)) else {
                    throw fail(
                        "--generate-completion-script: unknown shell `\(argument ?? "")' (bash, zsh or fish)")
                }
                found.completionShell = shell
            case "generate-manual": found.manual = true
            default: break
            }
        }
        // `ipvsctl predict … --json` has a JSON answer of its own: its --json stays on its command line.
        if rest.count > 1 && rest[1] == "predict", let jsonIndex {
            rest.insert("--json", at: jsonIndex)
            found.json = false
        }
        if found.printsDocumentation
            && (rest.count > 1 || found.json || found.networkNamespace != nil || found.dryRun)
        {
            let given = found.helpExtensions ? "help-extensions" : found.manual ? "generate-manual"
                : "generate-completion-script"
            throw fail("--\(given) takes no other option")
        }
        return (found, rest)
    }

    /// The commands `--json` applies to; checked once ipvsadm's parser has read the line.
    public static func jsonViolation(_ invocation: IPVSAdmInvocation) -> String? {
        switch invocation.command {
        case .list, .save: return nil
        default:
            return "ipvsctl: --json applies to listings (-L/-l, -S) only, not to the '\(invocation.command.name)' "
                + "command"
        }
    }
}
