/// Whether an option may, must or must not come with a command.
public enum OptionRule: Character, Hashable, Sendable {
    /// The command needs it.
    case required = "+"
    /// The command refuses it.
    case illegal = "x"
    /// At most one of the command's exclusive options may be given.
    case exclusive = "1"
    case optional = " "
}

/// ipvsadm's table of which options each command takes (ipvsadm.c `commands_v_options`), kept as data: one row per
/// ``IPVSAdmCommand``, one column per ``IPVSAdmOption`` in their declared order, and the check that walks it
/// (`generic_opt_check`). The first offending option, in column order, is the one reported.
public enum CommandOptionMatrix {
    /// Columns: -n -c svc -s -p -M -r fwd -w -x -y mcast-interface timeout daemon stats rate thresholds
    /// persistent-conn nosort syncid exact ops pe -b mcast-group mcast-port mcast-ttl sync-maxlen tun-info
    /// tun-type tun-port tun-nocsum tun-csum tun-remcsum.
    static let rows: [IPVSAdmCommand: String] = [
        //                  -n-c svc -s -p -M -r fwd -w -x -y ...
        .addService:       "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
        .editService:      "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
        .deleteService:    "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .flush:            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .list:             " 11xxxxxxxxx11       xxxxxxx xxxxx",
        .addServer:        "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
        .deleteServer:     "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .editServer:       "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
        .setTimeouts:      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .startDaemon:      "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
        .stopDaemon:       "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
        .restore:          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .save:             " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        .zero:             "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ]

    /// The rule for `option` with `command`.
    public static func rule(_ command: IPVSAdmCommand, _ option: IPVSAdmOption) -> OptionRule {
        rules[command]![option.rawValue]
    }

    /// `rows` read once into rules: `-R` checks every line against the table.
    static let rules: [IPVSAdmCommand: [OptionRule]] = rows.mapValues { $0.map { OptionRule(rawValue: $0)! } }

    /// ipvsadm's `generic_opt_check`: the message of the first violation in column order, or nil.
    public static func violation(_ command: IPVSAdmCommand, _ options: IPVSAdmOptionSet) -> String? {
        var firstExclusive: IPVSAdmOption?
        for option in IPVSAdmOption.allCases {
            let rule = rule(command, option)
            if !options.contains(option) {
                if rule == .required {
                    return "You need to supply the '\(option.name)' option for the '\(command.name)' command"
                }
                continue
            }
            switch rule {
            case .illegal: return "Illegal '\(option.name)' option with the '\(command.name)' command"
            case .exclusive:
                if let first = firstExclusive {
                    return "The option '\(option.name)' conflicts with the '\(first.name)' option in the "
                        + "'\(command.name)' command"
                }
                firstExclusive = option
            case .required, .optional: break
            }
        }
        return nil
    }
}

/// ipvsadm's table of which tunnel options each tunnel type takes (ipvsadm.c `tunnel_types_v_options`) and its
/// check (`tunnel_opt_check`), run for -a and -e whatever the forwarding method.
public enum TunnelOptionMatrix {
    /// The options the table covers, in its column order.
    static let columns: [IPVSAdmOption] = [.tunnelPort, .tunnelNoChecksum, .tunnelChecksum, .tunnelRemoteChecksum]
    /// Rows by tunnel type: ipip, gue, gre.
    static let rows: [String] = [
        "xxxx",  // ipip
        "+111",  // gue
        "x11x",  // gre
    ]
    static let typeNames = ["ipip", "gue", "gre"]

    public static func rule(tunnelType: Int, _ option: IPVSAdmOption) -> OptionRule {
        let row = rows[tunnelType]
        let column = columns.firstIndex(of: option)!
        return OptionRule(rawValue: row[row.index(row.startIndex, offsetBy: column)])!
    }

    /// The message of the first violation, or nil.
    public static func violation(tunnelType: Int, _ options: IPVSAdmOptionSet) -> String? {
        let type = typeNames[tunnelType]
        var firstExclusive: IPVSAdmOption?
        for option in columns {
            let rule = rule(tunnelType: tunnelType, option)
            if !options.contains(option) {
                if rule == .required {
                    return "You need to supply the '\(option.name)' option for the '\(type)' tunnel type"
                }
                continue
            }
            switch rule {
            case .illegal: return "Illegal '\(option.name)' option with the '\(type)' tunnel type"
            case .exclusive:
                if let first = firstExclusive {
                    return "The option '\(option.name)' conflicts with the '\(first.name)' option in the "
                        + "'\(type)' tunnel type"
                }
                firstExclusive = option
            case .required, .optional: break
            }
        }
        return nil
    }
}
