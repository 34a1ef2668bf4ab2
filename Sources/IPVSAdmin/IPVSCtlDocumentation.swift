/// The texts generated from the command definitions: `--help`'s pointer, `--help-extensions`, the ipvsctl(8) man
/// page (docs/ipvsctl.8) and the bash, zsh and fish completion scripts. All come from the parser's option table
/// (``OptionSpec/ipvsadm``), its command-versus-option matrix (``CommandOptionMatrix``), the extension table
/// (``IPVSCtlExtensions/options``) and the option texts (``IPVSCtlOptionDocs``); nothing here lists an option by
/// hand. The output has no date or version that changes by itself, so a regenerated page is the same bytes.
public enum IPVSCtlDocumentation {
    /// Printed after ipvsadm's usage text for `--help` (and only for it: `-h` prints the usage alone).
    public static func helpPointer(program path: String) -> String {
        let program = path.split(separator: "/").last.map(String.init) ?? "ipvsctl"
        return "\nBeyond ipvsadm: --json (listings as JSON, schema in docs/ipvsctl-json.md), --netns NAME (any "
            + "command in a\nnetwork namespace), -R --dry-run (a restore simulated), \(program) predict (the real "
            + "server the kernel\nwill choose for a client). \(program) --help-extensions lists them; man 8 ipvsctl "
            + "has it all.\n"
    }

    /// `ipvsctl --help-extensions`.
    public static func extensionsHelp(program path: String) -> String {
        let program = path.split(separator: "/").last.map(String.init) ?? "ipvsctl"
        var out = "ipvsctl's options beyond ipvsadm's (anywhere on the command line, before a `--'):\n"
        for option in IPVSCtlExtensions.options {
            let head = "  --\(option.long)" + (option.argument.map { " \($0.uppercased())" } ?? "")
            out += head + "\n" + wrap(option.summary, indent: 6, width: 100) + "\n"
        }
        out += "\nipvsctl's commands beyond ipvsadm's:\n"
        out += "  predict -t|-u|--sctp-service SERVICE | -f MARK [-6] --to ADDRESS[:PORT] [--protocol P]\n"
        out += "          --client ADDRESS[:PORT] ...\n"
        out += wrap(predictSummary, indent: 6, width: 100) + "\n"
        out += "  verify (--interface IF [--count N] [--duration SECONDS] | --read FILE.pcap) [SERVICE ...] [--json]\n"
        out += wrap(verifySummary, indent: 6, width: 100) + "\n"
        out += """

            Examples:
              \(program) -Ln --stats --json        every service, destination, counter and rate (64-bit integers)
              \(program) --netns blue -Ln          the table of network namespace blue (/run/netns/blue)
              \(program) --netns blue -R < rules   restore into blue only
              \(program) -R --dry-run < rules      what that restore would change and refuse; nothing changed
              \(program) predict -t 10.0.0.1:80 --client 192.168.1.7:40000   the real server it would get now
              \(program) verify --interface any --duration 30 -t 10.0.0.1:80   live traffic checked against predict
              \(program) --generate-completion-script bash > /etc/bash_completion.d/ipvsctl

            The JSON schema: docs/ipvsctl-json.md. Everything: man 8 ipvsctl (docs/ipvsctl.8).

            """
        return out
    }

    /// What `ipvsctl predict` does, for --help-extensions and the man page.
    static let predictSummary =
        "Which real server the kernel will choose now for a new connection from each client, from the live table "
        + "(the real servers in list order with weights, thresholds and counters; the connections and persistence "
        + "templates of /proc/net/ip_vs_conn): an existing connection of the same tuple first, then the client's "
        + "persistence template, then the scheduler. sh, dh, mh, lc, wlc, sed, nq, fo and ovf are determined by "
        + "what the table shows; rr's position, wrr's current weight and the lblc/lblcr caches are not exposed by "
        + "the kernel, so for those the real servers that remain possible are printed and the state is said to be "
        + "hidden, as is an overload flag between a server's thresholds when it matters. A firewall-mark service "
        + "needs the packet's --to address and port and --protocol (tcp by default). --json prints one JSON object "
        + "a line. Exit status: 0 predicted, 3 cannot be known from the live table, 4 the kernel schedules no real "
        + "server, 1 the table could not be read, 2 usage error."

    /// What `ipvsctl verify` does, for its usage, --help-extensions and the man page.
    static let verifySummary =
        "Captures the traffic of IPVS virtual services (live on an interface, or from a pcap or pcapng file) and "
        + "checks that the kernel sent every new connection to the real server IPVSCore predicts for the kernel's "
        + "table: the observed connections are replayed in order through the service's scheduler and persistence, "
        + "and the report gives each disagreement, the distribution per real server against the weights and any "
        + "persistence violation. A live capture starts from the kernel's counters and ends at --count new "
        + "connections, after --duration or at Ctrl-C. Exit status: 0 all agree, 1 a disagreement or nothing "
        + "checked, 2 an error."

    /// Words wrapped at `width` columns, each line indented.
    static func wrap(_ text: String, indent: Int, width: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent + line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        let pad = String(repeating: " ", count: indent)
        return lines.map { pad + $0 }.joined(separator: "\n")
    }

    // MARK: - The man page

    /// ipvsctl(8), roff.
    public static func manual() -> String {
        var m = Roff()
        m.line(".\\\" Generated by `ipvsctl --generate-manual` from the parser's tables; do not edit.")
        m.line(".TH IPVSCTL 8 \"\" \"swift-ipvs\" \"System Manager's Manual\"")
        m.section("NAME")
        m.line("ipvsctl \\- administer the kernel's IP Virtual Server table, as ipvsadm 1.31 does and more")
        m.section("SYNOPSIS")
        for spelled in IPVSCtlOptionDocs.options where spelled.entry.group == .command {
            m.line(".br")
            m.line(synopsis(spelled))
        }
        m.line(".br")
        m.line("\\fBipvsctl predict\\fR \\fIvirtual-service\\fR [\\fB\\-\\-to\\fR \\fIaddress\\fR[:\\fIport\\fR]] "
            + "[\\fB\\-\\-protocol\\fR \\fIproto\\fR] \\fB\\-\\-client\\fR \\fIaddress\\fR[:\\fIport\\fR] ...")
        m.line(".br")
        m.line("\\fBipvsctl verify\\fR (\\fB\\-\\-interface\\fR \\fIif\\fR | \\fB\\-\\-read\\fR \\fIfile\\fR) "
            + "[\\fIvirtual-service\\fR ...] [\\fIoptions\\fR]")
        m.line(".br")
        m.line("\\fBipvsctl\\fR \\fB\\-\\-help\\-extensions\\fR | \\fB\\-\\-generate\\-manual\\fR | "
            + "\\fB\\-\\-generate\\-completion\\-script\\fR \\fIshell\\fR")
        m.section("DESCRIPTION")
        m.paragraph(
            "ipvsctl takes ipvsadm 1.31's command line and prints what ipvsadm prints: every command, option, "
                + "listing, message and exit status is ipvsadm's, byte for byte. With no arguments it lists the "
                + "table (-L). Short options combine (-Ln, -Lnc); an option's argument may follow as the next word "
                + "or after '='. Options may come in any order after the command, which must come first.")
        m.paragraph(
            "Beyond ipvsadm (see IPVSCTL EXTENSIONS): --json prints any listing as JSON, --netns runs any command "
                + "in another network namespace, and the man page and shell completions are generated from the "
                + "same tables the parser reads.")
        for group in IPVSCtlOptionDocs.Group.allCases {
            m.section(group.title)
            if group == .virtualService {
                m.paragraph(
                    "A virtual service is one of these. host is an IPv4 address, an IPv6 address in brackets "
                        + "([2001:db8::1]:80) or a name; port a number or a service name.")
            }
            for spelled in IPVSCtlOptionDocs.options where spelled.entry.group == group {
                m.tagged(spelled.spellings, argument: argumentText(spelled), text: spelled.entry.text)
                if let command = IPVSCtlOptionDocs.command(spelled.key) {
                    let rules = matrixText(command)
                    if !rules.isEmpty { m.text(rules) }
                }
            }
        }
        m.section("IPVSCTL EXTENSIONS")
        m.paragraph(
            "These are recognised as whole words anywhere before a '--' word and apply to the whole process "
                + "(lines read by -R are ipvsadm lines only).")
        for option in IPVSCtlExtensions.options {
            m.tagged(["--\(option.long)"], argument: option.argument, text: option.summary)
        }
        m.section("PREDICT")
        m.paragraph(predictSummary)
        for option in IPVSCtlOptionDocs.predictOptions {
            m.tagged(option.spellings, argument: option.argument, text: option.text)
        }
        m.section("VERIFY")
        m.paragraph(verifySummary)
        for option in IPVSCtlOptionDocs.verifyOptions {
            m.tagged(option.spellings, argument: option.argument, text: option.text)
        }
        m.section("JSON OUTPUT")
        m.paragraph(
            "With --json a listing prints one JSON document, on one line: {\"schema\":\"\(IPVSAdmJSON.schema)\", "
                + "\"version\":\(IPVSAdmJSON.version), \"kind\":KIND, \"ipvs\":{...}, ...}. KIND is "
                + IPVSAdmJSON.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                + ". Every counter is the kernel's 64-bit value as a JSON integer (never abbreviated, never cut to "
                + "32 bits); addresses are numeric strings; keys come in a fixed order. The listing options "
                + "(--stats, --rate, --exact, --thresholds, --persistent-conn, --tun-info, -n) are accepted and "
                + "change nothing: the document always has every field. --nosort gives the kernel's order. The "
                + "schema is documented field by field in docs/ipvsctl-json.md.")
        m.section("EXIT STATUS")
        m.tagged(["0"], argument: nil, text: "Success.")
        m.tagged(["1"], argument: nil, text: "A listing failed (no such service, the kernel refused a dump).")
        m.tagged(
            ["2"], argument: nil,
            text: "The command line was refused, IPVS could not be reached, or the --netns namespace does not exist.")
        m.tagged(
            ["255"], argument: nil,
            text: "The kernel refused a change, or an option was unknown or lacked its argument.")
        m.section("FILES")
        m.tagged(["/proc/net/ip_vs_conn"], argument: nil, text: "The connection table, for -c.")
        m.tagged(["/run/netns/NAME"], argument: nil, text: "The network namespaces of --netns NAME.")
        m.section("SEE ALSO")
        m.line("\\fBipvsadm\\fR(8), \\fBip\\-netns\\fR(8)")
        return m.text
    }

    /// `ipvsctl -A|--add-service virtual-service [options]`, from the matrix: what the command requires and
    /// whether it takes anything else.
    static func synopsis(_ spelled: IPVSCtlOptionDocs.Spelled) -> String {
        var words = ["\\fBipvsctl\\fR", spelled.spellings.map { "\\fB\(Roff.escape($0))\\fR" }.joined(separator: "|")]
        if let argument = spelled.entry.argument { words.append("\\fI\(Roff.escape(argument))\\fR") }
        guard let command = IPVSCtlOptionDocs.command(spelled.key) else { return words.joined(separator: " ") }
        var optional = false
        for option in IPVSAdmOption.allCases {
            switch CommandOptionMatrix.rule(command, option) {
            case .required:
                if option == .service { words.append("\\fIvirtual\\-service\\fR") }
                if option == .realServer { words.append("\\fB\\-r\\fR \\fIserver\\fR") }
            case .optional, .exclusive:
                optional = true
            case .illegal: break
            }
        }
        if optional { words.append("[\\fIoptions\\fR]") }
        return words.joined(separator: " ")
    }

    static func argumentText(_ spelled: IPVSCtlOptionDocs.Spelled) -> String? {
        guard let argument = spelled.entry.argument else { return nil }
        return spelled.argument == .optional ? "[\(argument)]" : argument
    }

    /// "Requires: …. Takes: …. At most one of: …." for one command, from ``CommandOptionMatrix``.
    static func matrixText(_ command: IPVSAdmCommand) -> String {
        // A required column may have several spellings (the four kinds of service): one of them is needed.
        var required: [(IPVSAdmOption, [String])] = []
        var optional: [String] = [], exclusive: [String] = []
        for spelled in IPVSCtlOptionDocs.options where IPVSCtlOptionDocs.command(spelled.key) == nil {
            let name = spelled.spellings.last!
            switch IPVSCtlOptionDocs.takes(command, spelled.key) {
            case .required:
                let column = IPVSCtlOptionDocs.column(spelled.key)!
                if let i = required.firstIndex(where: { $0.0 == column }) {
                    required[i].1.append(name)
                } else {
                    required.append((column, [name]))
                }
            case .optional: optional.append(name)
            case .exclusive: exclusive.append(name)
            case .illegal: break
            }
        }
        var parts: [String] = []
        if !required.isEmpty {
            let each = required.map { _, names in
                names.count == 1
                    ? names[0] : "one of " + names.dropLast().joined(separator: ", ") + " or " + names.last!
            }
            parts.append("Requires " + each.joined(separator: " and ") + ".")
        }
        if !optional.isEmpty { parts.append("Takes " + optional.joined(separator: ", ") + ".") }
        if !exclusive.isEmpty { parts.append("At most one of " + exclusive.joined(separator: ", ") + ".") }
        return parts.joined(separator: " ")
    }

    /// A roff writer: text escaped (backslashes, and '-' as '\-' so that options copy as ASCII hyphens), lines that
    /// would start with '.' or '\'' protected.
    struct Roff {
        var text = ""

        static func escape(_ s: String) -> String {
            var out = ""
            for c in s {
                switch c {
                case "\\": out += "\\e"
                case "-": out += "\\-"
                default: out.append(c)
                }
            }
            return out
        }

        mutating func line(_ s: String) { text += s + "\n" }

        mutating func section(_ title: String) { line(".SH \(title)") }

        /// Running text, escaped, one sentence a line (roff's convention, and it keeps diffs small).
        mutating func text(_ s: String) {
            for sentence in sentences(s) {
                let escaped = Self.escape(sentence)
                line(escaped.hasPrefix(".") || escaped.hasPrefix("'") ? "\\&" + escaped : escaped)
            }
        }

        mutating func paragraph(_ s: String) {
            line(".PP")
            text(s)
        }

        /// `.TP` with the spellings in bold and the argument in italics.
        mutating func tagged(_ spellings: [String], argument: String?, text s: String) {
            line(".TP")
            var head = spellings.map { "\\fB\(Self.escape($0))\\fR" }.joined(separator: ", ")
            if let argument { head += " \\fI\(Self.escape(argument))\\fR" }
            line(head)
            text(s)
        }

        func sentences(_ s: String) -> [String] {
            var result: [String] = []
            var current = ""
            let characters = Array(s)
            for (i, c) in characters.enumerated() {
                current.append(c)
                if c == "." && i + 1 < characters.count && characters[i + 1] == " " {
                    result.append(current)
                    current = ""
                }
            }
            if !current.isEmpty { result.append(current) }
            return result.map { $0.drop(while: { $0 == " " }) }.map(String.init)
        }
    }

    // MARK: - Shell completions

    public static func completionScript(_ shell: IPVSCtlExtensions.Shell) -> String {
        switch shell {
        case .bash: return bashCompletion()
        case .zsh: return zshCompletion()
        case .fish: return fishCompletion()
        }
    }

    /// Every word an option can be spelled as, with what completes its argument.
    struct Completable {
        var shorts: [Character]
        var long: String
        var argument: OptionSpec.Argument
        var argumentName: String?
        var text: String
        /// Fixed words, or a shell command that lists them (`netns`).
        var values: [String]
        var dynamic: Dynamic?
        var key: OptionSpec.Key?

        enum Dynamic { case networkNamespaces, interfaces }

        var spellings: [String] { shorts.map { "-\($0)" } + ["--\(long)"] }
    }

    static var completables: [Completable] {
        var all: [Completable] = IPVSCtlOptionDocs.options.map { o in
            Completable(
                shorts: o.shorts, long: o.long, argument: o.argument, argumentName: o.entry.argument,
                text: o.entry.text, values: o.entry.values, dynamic: o.key == .mcastInterface ? .interfaces : nil,
                key: o.key)
        }
        for option in IPVSCtlExtensions.options {
            all.append(
                Completable(
                    shorts: [], long: option.long, argument: option.argument == nil ? .none : .required,
                    argumentName: option.argument, text: option.summary, values: option.values,
                    dynamic: option.long == "netns" ? .networkNamespaces : nil, key: nil))
        }
        // predict's and verify's own options (the service options are ipvsadm's, already there).
        for command in subcommands {
            for option in command.options {
                let long = String(option.spellings.last!.dropFirst(2))
                guard !all.contains(where: { $0.long == long }) else { continue }
                all.append(
                    Completable(
                        shorts: [], long: long, argument: option.argument == nil ? .none : .required,
                        argumentName: option.argument, text: command.name + ": " + option.text,
                        values: option.values, dynamic: long == "interface" ? .interfaces : nil, key: nil))
            }
        }
        return all
    }

    /// One line of text for a completion menu: the first sentence, without the characters the shells' syntaxes
    /// give a meaning to.
    static func menuText(_ s: String) -> String {
        var first = Roff().sentences(s).first ?? s
        if first.hasSuffix(".") { first.removeLast() }
        return String(first.map { $0 == "'" ? "’" : $0 }.filter { !"[]:\"`$\\".contains($0) })
    }

    /// The words offered after a command: the options it takes (by the matrix) and the extensions that apply.
    static func words(after command: IPVSAdmCommand) -> [String] {
        var words: [String] = []
        for option in IPVSCtlOptionDocs.options where IPVSCtlOptionDocs.command(option.key) == nil {
            if IPVSCtlOptionDocs.takes(command, option.key) != .illegal { words += option.spellings }
        }
        if command == .list || command == .save { words.append("--json") }
        if command == .restore { words.append("--dry-run") }
        words.append("--netns")
        return words
    }

    /// ipvsctl's commands beyond ipvsadm's, which are words rather than options.
    static let subcommands: [(name: String, options: [IPVSCtlOptionDocs.SubcommandOption], summary: String)] = [
        ("predict", IPVSCtlOptionDocs.predictOptions, predictSummary),
        ("verify", IPVSCtlOptionDocs.verifyOptions, verifySummary),
    ]

    static func bashCompletion() -> String {
        var s = """
            # bash completion for ipvsctl. Generated by `ipvsctl --generate-completion-script bash` from the parser's
            # tables; do not edit.
            _ipvsctl() {
                local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
                case "$prev" in

            """
        for c in completables where c.argument != .none {
            let pattern = c.spellings.joined(separator: "|")
            let action: String
            switch c.dynamic {
            case .networkNamespaces?: action = "COMPREPLY=($(compgen -W \"$(ls /run/netns 2>/dev/null)\" -- \"$cur\"))"
            case .interfaces?: action = "COMPREPLY=($(compgen -W \"$(ls /sys/class/net 2>/dev/null)\" -- \"$cur\"))"
            case nil:
                action = c.values.isEmpty
                    ? "COMPREPLY=()" : "COMPREPLY=($(compgen -W \"\(c.values.joined(separator: " "))\" -- \"$cur\"))"
            }
            // An optional argument (-p [timeout]) may be left out: fall through to the options then.
            if c.argument == .optional { continue }
            s += "        \(pattern)) \(action); return ;;\n"
        }
        s += """
                esac
                local command="" word
                for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
                    case "$word" in

            """
        for o in IPVSCtlOptionDocs.options {
            guard let command = IPVSCtlOptionDocs.command(o.key) else { continue }
            s += "            \(o.spellings.joined(separator: "|"))) command=\(command.name); break ;;\n"
        }
        for command in subcommands { s += "            \(command.name)) command=\(command.name); break ;;\n" }
        s += """
                    esac
                done
                local words
                case "$command" in

            """
        for command in IPVSAdmCommand.allCases {
            s += "        \(command.name)) words=\"\(words(after: command).joined(separator: " "))\" ;;\n"
        }
        for command in subcommands {
            let words = command.options.flatMap(\.spellings) + ["--netns"]
            s += "        \(command.name)) words=\"\(words.joined(separator: " "))\" ;;\n"
        }
        var first = IPVSCtlOptionDocs.options.filter { $0.entry.group == .command }.flatMap(\.spellings)
        first += IPVSCtlExtensions.options.map { "--\($0.long)" }
        first += subcommands.map(\.name)
        s += "        *) words=\"\(first.joined(separator: " "))\" ;;\n"
        s += """
                esac
                COMPREPLY=($(compgen -W "$words" -- "$cur"))
            }
            complete -F _ipvsctl ipvsctl

            """
        return s
    }

    static func zshCompletion() -> String {
        var s = """
            #compdef ipvsctl
            # zsh completion for ipvsctl. Generated by `ipvsctl --generate-completion-script zsh` from the parser's
            # tables; do not edit.
            _ipvsctl() {
                _arguments -s \\

            """
        for c in completables {
            let text = menuText(c.text)
            var action = ""
            if c.argument != .none {
                let name = (c.argumentName ?? "value").filter { $0 != ":" }
                let values: String
                switch c.dynamic {
                case .networkNamespaces?: values = "_files -W /run/netns"
                case .interfaces?: values = "_net_interfaces"
                case nil: values = c.values.isEmpty ? " " : "(\(c.values.joined(separator: " ")))"
                }
                action = (c.argument == .optional ? "::" : ":") + name + ":" + values
            }
            let spellings = c.spellings
            let head: String
            if spellings.count == 1 {
                head = "'\(spellings[0])\(c.argument == .optional ? "+" : "")[\(text)]\(action)'"
            } else {
                let set = spellings.joined(separator: " ")
                let alternatives = spellings.map { $0 + (c.argument == .optional && $0.count == 2 ? "+" : "") }
                head = "'(\(set))'{\(alternatives.joined(separator: ","))}'[\(text)]\(action)'"
            }
            s += "        \(head) \\\n"
        }
        let names = subcommands.map(\.name).joined(separator: " ")
        s += """
                    '1::command:(\(names))' \\
                    '*: :'
            }
            _ipvsctl "$@"

            """
        return s
    }

    static func fishCompletion() -> String {
        var s = """
            # fish completion for ipvsctl. Generated by `ipvsctl --generate-completion-script fish` from the parser's
            # tables; do not edit.
            complete -c ipvsctl -f

            """
        for command in subcommands {
            s += "complete -c ipvsctl -n __fish_use_subcommand -a \(command.name) -d '\(menuText(command.summary))'\n"
        }
        for c in completables {
            var line = "complete -c ipvsctl"
            for short in c.shorts { line += " -s \(short)" }
            line += " -l \(c.long)"
            switch c.argument {
            case .none: break
            case .required: line += " -x"
            case .optional: break
            }
            switch c.dynamic {
            case .networkNamespaces?: line += " -a '(ls /run/netns 2>/dev/null)'"
            case .interfaces?: line += " -a '(ls /sys/class/net 2>/dev/null)'"
            case nil: if !c.values.isEmpty { line += " -a '\(c.values.joined(separator: " "))'" }
            }
            line += " -d '\(menuText(c.text))'"
            s += line + "\n"
        }
        return s
    }
}
