import IPVSCore

/// How a listing is printed: ipvsadm's `FMT_*` flags.
public struct IPVSAdmFormat: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let numeric = IPVSAdmFormat(rawValue: 0x0001)
    /// `-S`: the rules, as ipvsadm commands.
    public static let rule = IPVSAdmFormat(rawValue: 0x0002)
    public static let stats = IPVSAdmFormat(rawValue: 0x0004)
    public static let rate = IPVSAdmFormat(rawValue: 0x0008)
    public static let thresholds = IPVSAdmFormat(rawValue: 0x0010)
    public static let persistentConnections = IPVSAdmFormat(rawValue: 0x0020)
    public static let noSort = IPVSAdmFormat(rawValue: 0x0040)
    public static let exact = IPVSAdmFormat(rawValue: 0x0080)
    public static let tunnelInfo = IPVSAdmFormat(rawValue: 0x0100)
}

/// The virtual service a command line names, field by field as ipvsadm fills its `ipvs_service_t` while it reads
/// the options in order (later options see and overwrite what earlier ones set).
public struct IPVSAdmServiceArgument: Hashable, Sendable {
    /// nil until `-t`/`-u`/`--sctp-service`/`-f` set it (ipvsadm's `af` 0).
    public var family: AddressFamily?
    /// IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, or 0.
    public var ipProtocol: UInt16 = 0
    public var address: IPAddress?
    public var port: UInt16 = 0
    public var firewallMark: UInt32 = 0
    /// As given to `-s`, cut to 15 bytes (`IP_VS_SCHEDNAME_MAXLEN - 1`); empty when not given.
    public var schedulerName: String = ""
    public var flags: ServiceFlags = []
    public var timeout: UInt32 = 0
    /// IPv4: the mask, host byte order (`-M 255.255.255.0` is 0xffffff00); IPv6: the prefix length.
    public var netmask: UInt32 = 0xffff_ffff
    public var persistenceEngine: String = ""

    public init() {}
}

/// The real server a command line names (ipvsadm's `ipvs_dest_t`).
public struct IPVSAdmServerArgument: Hashable, Sendable {
    public var family: AddressFamily?
    public var address: IPAddress?
    public var port: UInt16 = 0
    public var forwarding: ForwardingMethod = .route
    public var weight: Int32 = 1
    public var upperThreshold: UInt32 = 0
    public var lowerThreshold: UInt32 = 0
    /// 0 ipip, 1 gue, 2 gre.
    public var tunnelType: Int = 0
    public var tunnelPort: UInt16 = 0
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` bits.
    public var tunnelFlags: UInt16 = 0

    public init() {}
}

/// The sync daemon a command line names (ipvsadm's `ipvs_daemon_t`).
public struct IPVSAdmDaemonArgument: Hashable, Sendable {
    public enum State: Hashable, Sendable { case master, backup }
    public var state: State?
    public var multicastInterface: String = ""
    public var syncID: UInt32 = 0
    public var syncMaxLength: UInt16 = 0
    public var multicastGroup: IPAddress?
    public var multicastPort: UInt16 = 0
    public var multicastTTL: UInt8 = 0

    public init() {}
}

/// A command line ipvsadm accepted: the command, every option given, and what they set.
public struct IPVSAdmInvocation: Hashable, Sendable {
    public var command: IPVSAdmCommand
    public var options: IPVSAdmOptionSet
    public var format: IPVSAdmFormat
    public var service: IPVSAdmServiceArgument
    public var server: IPVSAdmServerArgument
    /// `--set tcp tcpfin udp`.
    public var timeouts: (tcp: UInt32, tcpFin: UInt32, udp: UInt32)
    public var daemon: IPVSAdmDaemonArgument

    public static func == (a: Self, b: Self) -> Bool {
        a.command == b.command && a.options == b.options && a.format == b.format && a.service == b.service
            && a.server == b.server && a.timeouts == b.timeouts && a.daemon == b.daemon
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(command)
        hasher.combine(service)
        hasher.combine(server)
    }
}

/// How ipvsadm ends (or, in `-R`, skips a line): its exit status and what it printed.
public struct IPVSAdmExit: Error, Hashable, Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
    /// True when ipvsadm calls `exit` (its `fail`, `tryhelp_exit`, `usage_exit`); false when it only returns the
    /// status, which in `-R` moves on to the next line (a popt error, a kernel error).
    public var endsProcess: Bool

    public init(status: Int32, standardOutput: String = "", standardError: String = "", endsProcess: Bool = true) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.endsProcess = endsProcess
    }

    /// ipvsadm's `fail(2, …)`: the message and a newline on stderr, status 2.
    public static func fail(_ message: String, status: Int32 = 2) -> IPVSAdmExit {
        IPVSAdmExit(status: status, standardError: message + "\n")
    }

    /// ipvsadm's `tryhelp_exit(program, -1)`.
    public static func tryHelp(_ program: String) -> IPVSAdmExit {
        IPVSAdmExit(status: 255, standardError: "Try `\(program) -h' or '\(program) --help' for more information.\n")
    }
}
