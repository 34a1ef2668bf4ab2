/// What each option of ipvsadm's table (``OptionSpec/ipvsadm``) means, for the man page, `--help-extensions` and the
/// shell completions. The spellings, arguments and which command takes which option are not written here: they come
/// from the parser's own tables (``OptionSpec/ipvsadm``, ``CommandOptionMatrix``), so the documents cannot drift
/// from what the parser accepts. The switches are exhaustive: an option added to the parser does not compile until
/// it is documented here.
public enum IPVSCtlOptionDocs {
    public enum Group: Int, CaseIterable, Sendable {
        case command, virtualService, service, server, list, daemon

        public var title: String {
            switch self {
            case .command: return "COMMANDS"
            case .virtualService: return "VIRTUAL SERVICE"
            case .service: return "SERVICE OPTIONS"
            case .server: return "REAL-SERVER OPTIONS"
            case .list: return "LISTING OPTIONS"
            case .daemon: return "SYNC DAEMON OPTIONS"
            }
        }
    }

    public struct Entry: Sendable {
        public var group: Group
        /// The argument's name as the documents show it; nil when the option takes none.
        public var argument: String?
        public var text: String
        /// Words a shell may offer for the argument.
        public var values: [String]

        init(_ group: Group, _ argument: String?, _ text: String, values: [String] = []) {
            self.group = group
            self.argument = argument
            self.text = text
            self.values = values
        }
    }

    /// Scheduler names the kernel has modules for (IPVSCore's schedulers are exactly the kernel's).
    static let schedulers = ["rr", "wrr", "lc", "wlc", "sed", "nq", "dh", "sh", "mh", "fo", "ovf", "lblc", "lblcr"]

    public static func entry(_ key: OptionSpec.Key) -> Entry {
        switch key {
        case .addService: return Entry(.command, nil, "Add a virtual service.")
        case .editService: return Entry(.command, nil, "Change a virtual service's scheduler, persistence and flags.")
        case .deleteService: return Entry(.command, nil, "Delete a virtual service and its real servers.")
        case .clear: return Entry(.command, nil, "Delete every virtual service.")
        case .list:
            return Entry(
                .command, nil,
                "List the table, or one virtual service when one is given (the default with no arguments).")
        case .zero: return Entry(.command, nil, "Zero the counters of one virtual service, or of all.")
        case .addServer: return Entry(.command, nil, "Add a real server to a virtual service.")
        case .editServer: return Entry(.command, nil, "Change a real server of a virtual service.")
        case .deleteServer: return Entry(.command, nil, "Delete a real server from a virtual service.")
        case .set:
            return Entry(
                .command, "tcp tcpfin udp",
                "Set the connection timeouts in seconds (three words after the options; 0 leaves one unchanged).")
        case .help:
            return Entry(
                .command, nil, "Print the usage text; --help adds a pointer to ipvsctl's extensions, -h does not.")
        case .version: return Entry(.command, nil, "Print the version.")
        case .restore:
            return Entry(.command, nil, "Read commands, one a line as --save writes them, from standard input.")
        case .save: return Entry(.command, nil, "Write the table as commands --restore reads.")
        case .startDaemon:
            return Entry(.command, "state", "Start the connection sync daemon (master or backup).",
                         values: ["master", "backup"])
        case .stopDaemon:
            return Entry(.command, "state", "Stop the connection sync daemon (master or backup).",
                         values: ["master", "backup"])
        case .tcpService: return Entry(.virtualService, "host[:port]", "A TCP virtual service.")
        case .udpService: return Entry(.virtualService, "host[:port]", "A UDP virtual service.")
        case .sctpService: return Entry(.virtualService, "host[:port]", "An SCTP virtual service.")
        case .fwmarkService: return Entry(.virtualService, "mark", "A virtual service of a firewall mark.")
        case .ipv6: return Entry(.virtualService, nil, "With -f: the firewall-mark service is IPv6.")
        case .scheduler:
            return Entry(.service, "name", "The scheduler (default wlc).", values: schedulers)
        case .persistent:
            return Entry(
                .service, "timeout",
                "Persistent service; the optional timeout in seconds (default "
                    + "\(IPVSAdmParser.defaultPersistentTimeout)).")
        case .netmask:
            return Entry(.service, "netmask", "Persistence granularity: a netmask (IPv4) or a prefix length (IPv6).")
        case .onePacket: return Entry(.service, nil, "One-packet scheduling (UDP and firewall-mark services).")
        case .persistenceEngine: return Entry(.service, "engine", "The persistence engine.", values: ["sip"])
        case .schedulerFlags:
            return Entry(
                .service, "flags", "Scheduler flags, comma-separated.",
                values: ["flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"])
        case .realServer: return Entry(.server, "host[:port]", "The real server.")
        case .gatewaying: return Entry(.server, nil, "Forward by direct routing (the default).")
        case .ipip: return Entry(.server, nil, "Forward through a tunnel.")
        case .masquerading: return Entry(.server, nil, "Forward by NAT (masquerading).")
        case .weight: return Entry(.server, "weight", "The real server's weight (default 1; 0 quiesces it).")
        case .upperThreshold:
            return Entry(.server, "connections", "Upper connection threshold (0: none).")
        case .lowerThreshold:
            return Entry(.server, "connections", "Lower connection threshold (0: none).")
        case .tunnelType:
            return Entry(.server, "type", "The tunnel type of a tunnelled server.", values: ["ipip", "gue", "gre"])
        case .tunnelPort: return Entry(.server, "port", "The GUE tunnel's UDP port.")
        case .tunnelNoChecksum: return Entry(.server, nil, "No tunnel checksum (GUE, GRE).")
        case .tunnelChecksum: return Entry(.server, nil, "Tunnel checksum (GUE, GRE).")
        case .tunnelRemoteChecksum: return Entry(.server, nil, "Remote checksum offload (GUE).")
        case .numeric: return Entry(.list, nil, "Numeric addresses and ports (no name lookups).")
        case .connection: return Entry(.list, nil, "List the connection table (/proc/net/ip_vs_conn).")
        case .timeout: return Entry(.list, nil, "List the connection timeouts.")
        case .daemon: return Entry(.list, nil, "List the sync daemons.")
        case .stats: return Entry(.list, nil, "Counters: connections, packets and bytes.")
        case .rate: return Entry(.list, nil, "Rates per second.")
        case .thresholds: return Entry(.list, nil, "Connection thresholds.")
        case .persistentConnections: return Entry(.list, nil, "Persistent connections (templates) per real server.")
        case .noSort: return Entry(.list, nil, "In the kernel's order, unsorted.")
        case .sort: return Entry(.list, nil, "Sorted (the default; accepted for compatibility).")
        case .exact: return Entry(.list, nil, "Exact numbers, not abbreviated with K, M, G, T.")
        case .tunnelInfo: return Entry(.list, nil, "Tunnel type, port and checksum of tunnelled servers.")
        case .mcastInterface: return Entry(.daemon, "interface", "The interface the daemon uses (default eth0).")
        case .syncID: return Entry(.daemon, "id", "The sync id (0-255).")
        case .syncMaxLength: return Entry(.daemon, "length", "The largest sync message payload, in bytes.")
        case .mcastGroup: return Entry(.daemon, "address", "The multicast group (IPv4 or IPv6).")
        case .mcastPort: return Entry(.daemon, "port", "The multicast UDP port.")
        case .mcastTTL: return Entry(.daemon, "ttl", "The multicast TTL (1-255).")
        }
    }

    /// The command an option of the table starts, if it is one.
    public static func command(_ key: OptionSpec.Key) -> IPVSAdmCommand? {
        switch key {
        case .addService: return .addService
        case .editService: return .editService
        case .deleteService: return .deleteService
        case .clear: return .flush
        case .list: return .list
        case .zero: return .zero
        case .addServer: return .addServer
        case .editServer: return .editServer
        case .deleteServer: return .deleteServer
        case .set: return .setTimeouts
        case .restore: return .restore
        case .save: return .save
        case .startDaemon: return .startDaemon
        case .stopDaemon: return .stopDaemon
        default: return nil
        }
    }

    /// The ``CommandOptionMatrix`` column that decides whether a command takes an option (as IPVSAdmParser sets
    /// it); nil for the commands, `-6` and `--sort`, which ipvsadm never checks against a command.
    public static func column(_ key: OptionSpec.Key) -> IPVSAdmOption? {
        switch key {
        case .tcpService, .udpService, .sctpService, .fwmarkService: return .service
        case .scheduler: return .scheduler
        case .persistent: return .persistent
        case .netmask: return .netmask
        case .realServer: return .realServer
        case .masquerading, .ipip, .gatewaying: return .forwarding
        case .weight: return .weight
        case .upperThreshold: return .upperThreshold
        case .lowerThreshold: return .lowerThreshold
        case .numeric: return .numeric
        case .connection: return .connection
        case .mcastInterface: return .mcastInterface
        case .syncID: return .syncID
        case .timeout: return .timeout
        case .daemon: return .daemon
        case .stats: return .stats
        case .rate: return .rate
        case .thresholds: return .thresholds
        case .persistentConnections: return .persistentConnections
        case .noSort: return .noSort
        case .exact: return .exact
        case .onePacket: return .onePacket
        case .persistenceEngine: return .persistenceEngine
        case .schedulerFlags: return .schedulerFlags
        case .mcastGroup: return .mcastGroup
        case .mcastPort: return .mcastPort
        case .mcastTTL: return .mcastTTL
        case .syncMaxLength: return .syncMaxLength
        case .tunnelInfo: return .tunnelInfo
        case .tunnelType: return .tunnelType
        case .tunnelPort: return .tunnelPort
        case .tunnelNoChecksum: return .tunnelNoChecksum
        case .tunnelChecksum: return .tunnelChecksum
        case .tunnelRemoteChecksum: return .tunnelRemoteChecksum
        case .addService, .editService, .deleteService, .clear, .list, .zero, .addServer, .editServer,
            .deleteServer, .set, .help, .version, .restore, .save, .startDaemon, .stopDaemon, .ipv6, .sort:
            return nil
        }
    }

    /// One option as the documents show it: every spelling of one key (`-L`, `-l`, `--list`).
    public struct Spelled: Sendable {
        public var key: OptionSpec.Key
        public var shorts: [Character]
        public var long: String
        public var argument: OptionSpec.Argument
        public var entry: Entry

        /// `-L, -l, --list`.
        public var spellings: [String] { shorts.map { "-\($0)" } + ["--\(long)"] }
    }

    /// The parser's table, one element per key, in the table's order.
    public static var options: [Spelled] {
        var result: [Spelled] = []
        for spec in OptionSpec.ipvsadm {
            let short = spec.short.map { Character(Unicode.Scalar($0)) }
            if let i = result.firstIndex(where: { $0.key == spec.key }) {
                if let short { result[i].shorts.append(short) }
                continue
            }
            result.append(
                Spelled(
                    key: spec.key, shorts: short.map { [$0] } ?? [], long: spec.long, argument: spec.argument,
                    entry: entry(spec.key)))
        }
        return result
    }

    /// Whether `command` takes the option `key`: the matrix's rule for its column; `-6` wherever a service is taken,
    /// `--sort` with the list command; a command never takes another command.
    public static func takes(_ command: IPVSAdmCommand, _ key: OptionSpec.Key) -> OptionRule {
        if let column = column(key) { return CommandOptionMatrix.rule(command, column) }
        switch key {
        case .ipv6: return CommandOptionMatrix.rule(command, .service) == .illegal ? .illegal : .optional
        case .sort: return command == .list ? .optional : .illegal
        default: return .illegal
        }
    }
}

extension IPVSCtlOptionDocs {
    /// One option of `ipvsctl predict` or `ipvsctl verify` (parsed by ``IPVSCtlPredictCommand/parse(_:)`` and
    /// ``IPVSCtlVerifyCommand/parse(_:)``, which have no table of their own;
    /// IPVSCtlDocumentationTests checks that it accepts every option listed here).
    public struct SubcommandOption: Sendable {
        public var spellings: [String]
        public var argument: String?
        public var text: String
        public var values: [String]
    }

    public static let predictOptions: [SubcommandOption] = [
        SubcommandOption(spellings: ["-t", "--tcp-service"], argument: "host:port", text: "A TCP service.", values: []),
        SubcommandOption(spellings: ["-u", "--udp-service"], argument: "host:port", text: "A UDP service.", values: []),
        SubcommandOption(spellings: ["--sctp-service"], argument: "host:port", text: "An SCTP service.", values: []),
        SubcommandOption(
            spellings: ["-f", "--fwmark-service"], argument: "mark", text: "A firewall-mark service.", values: []),
        SubcommandOption(spellings: ["-6", "--ipv6"], argument: nil, text: "With -f: an IPv6 firewall mark.", values: []),
        SubcommandOption(
            spellings: ["--client"], argument: "address[:port]",
            text: "The client (repeatable; each is predicted from the same reading of the table).", values: []),
        SubcommandOption(
            spellings: ["--to"], argument: "address[:port]",
            text: "With -f: the packet's destination address and port.", values: []),
        SubcommandOption(
            spellings: ["--protocol"], argument: "protocol", text: "With -f: the packet's protocol (default tcp).",
            values: ["tcp", "udp", "sctp"]),
        SubcommandOption(spellings: ["--json"], argument: nil, text: "One JSON object a line.", values: []),
    ]
}
