/// One entry of ipvsadm's option table: its long name, short letter, whether it takes an argument, and what it
/// means. The table is ipvsadm 1.31's (ipvsadm.c `parse_options`), in its order: popt takes the first match.
public struct OptionSpec: Hashable, Sendable {
    public enum Argument: Hashable, Sendable { case none, required, optional }
    /// What the option does, ipvsadm's `val`.
    public enum Key: Hashable, Sendable {
        case addService, editService, deleteService, clear, list, zero, addServer, editServer, deleteServer
        case set, help, version, restore, save, startDaemon, stopDaemon
        case tcpService, udpService, sctpService, fwmarkService, scheduler, persistent, netmask, realServer
        case masquerading, ipip, gatewaying, weight, upperThreshold, lowerThreshold, numeric, connection
        case mcastInterface, syncID, timeout, daemon, stats, rate, thresholds, persistentConnections, noSort, sort
        case exact, ipv6, onePacket, persistenceEngine, schedulerFlags, mcastGroup, mcastPort, mcastTTL
        case syncMaxLength, tunnelInfo, tunnelType, tunnelPort, tunnelNoChecksum, tunnelChecksum
        case tunnelRemoteChecksum
    }

    public var long: String
    public var short: UInt8?
    public var argument: Argument
    public var key: Key

    init(_ long: String, _ short: Character?, _ argument: Argument, _ key: Key) {
        self.long = long
        self.short = short.map { $0.asciiValue! }
        self.argument = argument
        self.key = key
    }

    /// ipvsadm 1.31's option table.
    public static let ipvsadm: [OptionSpec] = [
        .init("add-service", "A", .none, .addService),
        .init("edit-service", "E", .none, .editService),
        .init("delete-service", "D", .none, .deleteService),
        .init("clear", "C", .none, .clear),
        .init("list", "L", .none, .list),
        .init("list", "l", .none, .list),
        .init("zero", "Z", .none, .zero),
        .init("add-server", "a", .none, .addServer),
        .init("edit-server", "e", .none, .editServer),
        .init("delete-server", "d", .none, .deleteServer),
        .init("set", nil, .none, .set),
        .init("help", "h", .none, .help),
        .init("version", "v", .none, .version),
        .init("restore", "R", .none, .restore),
        .init("save", "S", .none, .save),
        .init("start-daemon", nil, .required, .startDaemon),
        .init("stop-daemon", nil, .required, .stopDaemon),
        .init("tcp-service", "t", .required, .tcpService),
        .init("udp-service", "u", .required, .udpService),
        .init("sctp-service", nil, .required, .sctpService),
        .init("fwmark-service", "f", .required, .fwmarkService),
        .init("scheduler", "s", .required, .scheduler),
        .init("persistent", "p", .optional, .persistent),
        .init("netmask", "M", .required, .netmask),
        .init("real-server", "r", .required, .realServer),
        .init("masquerading", "m", .none, .masquerading),
        .init("ipip", "i", .none, .ipip),
        .init("gatewaying", "g", .none, .gatewaying),
        .init("weight", "w", .required, .weight),
        .init("u-threshold", "x", .required, .upperThreshold),
        .init("l-threshold", "y", .required, .lowerThreshold),
        .init("numeric", "n", .none, .numeric),
        .init("connection", "c", .none, .connection),
        .init("mcast-interface", nil, .required, .mcastInterface),
        .init("syncid", nil, .required, .syncID),
        .init("timeout", nil, .none, .timeout),
        .init("daemon", nil, .none, .daemon),
        .init("stats", nil, .none, .stats),
        .init("rate", nil, .none, .rate),
        .init("thresholds", nil, .none, .thresholds),
        .init("persistent-conn", nil, .none, .persistentConnections),
        .init("nosort", nil, .none, .noSort),
        .init("sort", nil, .none, .sort),
        .init("exact", "X", .none, .exact),
        .init("ipv6", "6", .none, .ipv6),
        .init("ops", "o", .none, .onePacket),
        .init("pe", nil, .required, .persistenceEngine),
        .init("sched-flags", "b", .required, .schedulerFlags),
        .init("mcast-group", nil, .required, .mcastGroup),
        .init("mcast-port", nil, .required, .mcastPort),
        .init("mcast-ttl", nil, .required, .mcastTTL),
        .init("sync-maxlen", nil, .required, .syncMaxLength),
        .init("tun-info", nil, .none, .tunnelInfo),
        .init("tun-type", nil, .required, .tunnelType),
        .init("tun-port", nil, .required, .tunnelPort),
        .init("tun-nocsum", nil, .none, .tunnelNoChecksum),
        .init("tun-csum", nil, .none, .tunnelChecksum),
        .init("tun-remcsum", nil, .none, .tunnelRemoteChecksum),
    ]
}

/// A command-line scanner that behaves as libpopt 1.19's `poptGetNextOpt` does for ipvsadm's table (popt.c), so
/// that every command line ipvsadm accepts means the same here and every one it refuses fails the same way:
/// - `-abc` is `-a -b -c`; a short option that takes an argument takes the rest of its word (`-srr`, `-s=rr`) or
///   else the next word, whatever it looks like (`-s -t` gives the scheduler "-t");
/// - an optional argument (`-p`) is the next word unless there is none or it starts with `-`;
/// - `--name=value` and `--name value`; long names must match exactly; `-name` is read as short options;
/// - words that are not options are kept, in order, as leftovers; after `--` every word is one. With
///   `POSIXLY_CORRECT` or `POSIX_ME_HARDER` in the environment, the first leftover ends the options too.
/// Not reproduced: popt aliases and `!#:+` argument expansion, which ipvsadm never configures or documents.
public struct PoptScanner {
    public enum Failure: Error, Hashable, Sendable {
        case unknownOption, missingArgument, unwantedArgument

        /// `poptStrerror`.
        public var message: String {
            switch self {
            case .unknownOption: return "unknown option"
            case .missingArgument: return "missing argument"
            case .unwantedArgument: return "option does not take an argument"
            }
        }
    }

    public enum Step: Hashable, Sendable {
        case option(OptionSpec.Key, argument: String?)
        case end
    }

    let table: [OptionSpec]
    let words: [[UInt8]]
    var next = 1
    var pendingShort: ArraySlice<UInt8>?
    var restAreLeftovers = false
    let posixly: Bool
    public private(set) var leftovers: [String] = []
    var leftoversTaken = 0

    /// `arguments[0]` is the program name, as in `argv`.
    public init(_ arguments: [String], table: [OptionSpec] = OptionSpec.ipvsadm, posixlyCorrect: Bool = false) {
        self.table = table
        self.words = arguments.map { Array($0.utf8) }
        self.posixly = posixlyCorrect
    }

    /// `poptBadOption`: the last word read, which is the one an error is about.
    public var lastWord: String { String(decoding: words[max(next - 1, 0)], as: UTF8.self) }

    /// `poptGetArg`: the next leftover word.
    public mutating func nextLeftover() -> String? {
        guard leftoversTaken < leftovers.count else { return nil }
        leftoversTaken += 1
        return leftovers[leftoversTaken - 1]
    }

    /// `poptGetNextOpt`: the next option and its argument, or `.end` when the words are used up.
    public mutating func nextOption() throws(Failure) -> Step {
        let dash = UInt8(ascii: "-")
        let equals = UInt8(ascii: "=")
        while true {
            if pendingShort == nil && next == words.count { return .end }
            var spec: OptionSpec?
            var longArgument: ArraySlice<UInt8>?
            if pendingShort == nil {
                let word = words[next]
                next += 1
                if restAreLeftovers || word.first != dash || word.count == 1 {
                    if posixly { restAreLeftovers = true }
                    leftovers.append(String(decoding: word, as: UTF8.self))
                    continue
                }
                if word.count == 2 && word[1] == dash {
                    restAreLeftovers = true
                    continue
                }
                var name = word[1...]
                let oneDash = name.first != dash
                if !oneDash { name = name.dropFirst() }
                if let eq = name.firstIndex(of: equals) {
                    longArgument = name[(eq + 1)...]
                    name = name[..<eq]
                }
                // A single-dash word matches only long options marked one-dash, and ipvsadm has none.
                if !oneDash {
                    spec = table.first { $0.long.utf8.elementsEqual(name) }
                    if spec == nil { throw .unknownOption }
                } else {
                    pendingShort = word[1...]
                    longArgument = nil
                }
            }
            if let cluster = pendingShort {
                pendingShort = nil
                let letter = cluster.first!
                spec = table.first { $0.short == letter }
                if spec == nil { throw .unknownOption }
                let rest = cluster.dropFirst()
                if !rest.isEmpty { pendingShort = rest }
            }
            let option = spec!
            var argument: [UInt8]?
            switch option.argument {
            case .none:
                if longArgument != nil || pendingShort?.first == equals { throw .unwantedArgument }
            case .required, .optional:
                if let longArgument {
                    argument = Array(longArgument)
                } else if let rest = pendingShort {
                    argument = Array(rest.first == equals ? rest.dropFirst() : rest)
                    pendingShort = nil
                } else if next == words.count {
                    if option.argument == .required { throw .missingArgument }
                } else if option.argument == .optional && words[next].first == dash {
                    argument = nil
                } else {
                    argument = words[next]
                    next += 1
                }
            }
            return .option(option.key, argument: argument.map { String(decoding: $0, as: UTF8.self) })
        }
    }
}
