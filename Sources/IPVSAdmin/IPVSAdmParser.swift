import Glibc
import IPVSCore

/// Reads an ipvsadm command line as ipvsadm 1.31 does (ipvsadm.c `parse_options` and the checks at the top of
/// `process_options`), and fails where it fails with its message and exit status.
///
/// The order of every check is ipvsadm's, because it decides which message a bad line gets: options are read
/// left to right and a bad value fails at once; then the leftover words (`--set`'s three timeouts, anything
/// unexpected); then the scheduler flags; then the command-versus-option table; then the per-command rules.
public enum IPVSAdmParser {
    static let maxTimeout = 86400 * 31
    /// `-p` without a value: ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT` (libipvs.h), six minutes, which `parse_timeout`
    /// returns for a missing value. Its usage text says "default 300"; the kernel differential test caught the
    /// difference (`ipvsadm -A -t 1.2.3.4:80 -p` lists "persistent 360").
    static let defaultPersistentTimeout: UInt32 = 360

    /// Parses `arguments` (`arguments[0]` is the program name). `readingRestore` is true for the lines of `-R`.
    public static func parse(
        _ arguments: [String], readingRestore: Bool = false, posixlyCorrect: Bool = false
    ) throws(IPVSAdmExit) -> IPVSAdmInvocation {
        let program = arguments.first ?? "ipvsadm"
        var scanner = PoptScanner(arguments, posixlyCorrect: posixlyCorrect)
        var service = IPVSAdmServiceArgument()
        var server = IPVSAdmServerArgument()
        var daemon = IPVSAdmDaemonArgument()
        var options = IPVSAdmOptionSet()
        var format: IPVSAdmFormat = []
        var schedulerFlagsText = ""

        func set(_ option: IPVSAdmOption) throws(IPVSAdmExit) {
            if options.contains(option) { throw .fail("multiple '\(option.name)' options specified") }
            options.insert(option)
        }

        // The first option must be the command.
        let command: IPVSAdmCommand
        let first: PoptScanner.Step
        do { first = try scanner.nextOption() } catch { throw .tryHelp(program) }
        guard case .option(let key, let argument) = first else { throw .tryHelp(program) }
        switch key {
        case .addService: command = .addService
        case .editService: command = .editService
        case .deleteService: command = .deleteService
        case .addServer: command = .addServer
        case .editServer: command = .editServer
        case .deleteServer: command = .deleteServer
        case .clear: command = .flush
        case .list: command = .list
        case .zero: command = .zero
        case .set: command = .setTimeouts
        case .restore: command = .restore
        case .save: command = .save
        case .startDaemon, .stopDaemon:
            command = key == .startDaemon ? .startDaemon : .stopDaemon
            switch argument {
            case "master": daemon.state = .master
            case "backup": daemon.state = .backup
            default:
                throw .fail(
                    key == .startDaemon
                        ? "illegal start-daemon parameter specified" : "illegal start_daemon specified")
            }
        case .help: throw IPVSAdmExit(status: 0, standardOutput: IPVSAdmUsage.text(program: program))
        case .version: throw IPVSAdmExit(status: 0, standardOutput: IPVSAdmUsage.version)
        default: throw .tryHelp(program)
        }

        while true {
            let step: PoptScanner.Step
            do { step = try scanner.nextOption() } catch {
                // ipvsadm prints popt's complaint and returns -1: the process ends with 255, `-R` goes on.
                throw IPVSAdmExit(
                    status: 255, standardError: "\(scanner.lastWord): \(error.message)\n", endsProcess: false)
            }
            guard case .option(let key, let argument) = step else { break }
            let text = argument ?? ""
            switch key {
            case .tcpService, .udpService, .sctpService:
                try set(.service)
                service.ipProtocol = UInt16(
                    key == .tcpService ? IPPROTO_TCP : key == .udpService ? IPPROTO_UDP : IPPROTO_SCTP)
                guard let parsed = IPVSAdmTextParsing.addressPort(text, ipProtocol: service.ipProtocol) else {
                    throw .fail("illegal virtual server address[:port] specified")
                }
                service.address = parsed.address
                service.family = parsed.address.family
                if parsed.address.family == .inet6 { service.netmask = 128 }
                if let port = parsed.port { service.port = port }
            case .fwmarkService:
                try set(.service)
                service.family = .inet
                service.ipProtocol = UInt16(IPPROTO_TCP)
                guard let mark = IPVSAdmTextParsing.firewallMark(text) else {
                    throw .fail("invalid fwmark value `\(text)' specified")
                }
                service.firewallMark = mark
            case .scheduler:
                try set(.scheduler)
                service.schedulerName = String(decoding: text.utf8.prefix(15), as: UTF8.self)
            case .persistent:
                try set(.persistent)
                service.flags.insert(.persistent)
                if let argument {
                    guard let t = IPVSAdmTextParsing.timeout(argument, 1, maxTimeout) else {
                        throw .fail("invalid timeout value `\(argument)' specified")
                    }
                    service.timeout = t
                } else {
                    service.timeout = defaultPersistentTimeout
                }
            case .netmask:
                try set(.netmask)
                if service.family != .inet6 {
                    guard let mask = IPVSAdmTextParsing.netmask(text) else {
                        throw .fail("illegal virtual server persistent mask specified")
                    }
                    service.netmask = mask
                } else {
                    let prefix = IPVSAdmTextParsing.atoi(text)
                    service.netmask = UInt32(bitPattern: prefix)
                    if prefix < 1 || prefix > 128 { throw .fail("illegal ipv6 netmask specified") }
                }
            case .realServer:
                try set(.realServer)
                guard let parsed = IPVSAdmTextParsing.addressPort(text, ipProtocol: service.ipProtocol) else {
                    throw .fail("illegal real server address[:port] specified")
                }
                server.address = parsed.address
                server.family = parsed.address.family
                // Without a port of its own the server takes the service's, as read so far.
                server.port = parsed.port ?? service.port
            case .ipip, .gatewaying, .masquerading:
                try set(.forwarding)
                server.forwarding = key == .ipip ? .tunnel : key == .gatewaying ? .route : .masquerade
            case .weight:
                try set(.weight)
                // Debian's ipvsadm 1.31 takes weights up to INT_MAX (upstream: 65535), as the kernel does.
                guard let w = IPVSAdmTextParsing.number(text, 0, Int(Int32.max)) else {
                    throw .fail("illegal weight specified")
                }
                server.weight = Int32(w)
            case .upperThreshold:
                try set(.upperThreshold)
                guard let x = IPVSAdmTextParsing.number(text, 0, Int(Int32.max)) else {
                    throw .fail("illegal u_threshold specified")
                }
                server.upperThreshold = UInt32(x)
            case .lowerThreshold:
                try set(.lowerThreshold)
                guard let y = IPVSAdmTextParsing.number(text, 0, Int(Int32.max)) else {
                    throw .fail("illegal l_threshold specified")
                }
                server.lowerThreshold = UInt32(y)
            case .connection: try set(.connection)
            case .numeric:
                try set(.numeric)
                format.insert(.numeric)
            case .mcastInterface:
                try set(.mcastInterface)
                daemon.multicastInterface = String(decoding: text.utf8.prefix(15), as: UTF8.self)
            case .syncID:
                try set(.syncID)
                guard let id = IPVSAdmTextParsing.number(text, 0, 255) else { throw .fail("illegal syncid specified") }
                daemon.syncID = UInt32(id)
            case .timeout: try set(.timeout)
            case .daemon: try set(.daemon)
            case .stats:
                try set(.stats)
                format.insert(.stats)
            case .rate:
                try set(.rate)
                format.insert(.rate)
            case .thresholds:
                try set(.thresholds)
                format.insert(.thresholds)
            case .persistentConnections:
                try set(.persistentConnections)
                format.insert(.persistentConnections)
            case .noSort:
                try set(.noSort)
                format.insert(.noSort)
            case .sort: break  // the default; accepted for compatibility
            case .exact:
                try set(.exact)
                format.insert(.exact)
            case .ipv6:
                guard service.firewallMark != 0 else { throw .fail("-6 used before -f\n") }
                service.family = .inet6
                service.netmask = 128
            case .onePacket:
                try set(.onePacket)
                service.flags.insert(.onePacket)
            case .persistenceEngine:
                try set(.persistenceEngine)
                service.persistenceEngine = String(decoding: text.utf8.prefix(16), as: UTF8.self)
            case .schedulerFlags:
                try set(.schedulerFlags)
                schedulerFlagsText = String(decoding: text.utf8.prefix(127), as: UTF8.self)
            case .mcastGroup:
                try set(.mcastGroup)
                if text.contains(":") {
                    guard let group = IPVSAdmTextParsing.inet6(text), group.bytes[0] == 0xff else {
                        throw .fail("invalid IPv6 mcast-group `\(text)'")
                    }
                    daemon.multicastGroup = .v6(group)
                } else {
                    guard let group = IPVSAdmTextParsing.inet4Strict(text), group.value >> 28 == 0xe else {
                        throw .fail("invalid IPv4 mcast-group `\(text)'")
                    }
                    daemon.multicastGroup = .v4(group)
                }
            case .mcastPort:
                try set(.mcastPort)
                guard let port = IPVSAdmTextParsing.number(text, 1, 65535) else {
                    throw .fail("illegal mcast-port specified")
                }
                daemon.multicastPort = UInt16(port)
            case .mcastTTL:
                try set(.mcastTTL)
                guard let ttl = IPVSAdmTextParsing.number(text, 1, 255) else { throw .fail("illegal mcast-ttl specified") }
                daemon.multicastTTL = UInt8(ttl)
            case .syncMaxLength:
                try set(.syncMaxLength)
                guard let length = IPVSAdmTextParsing.number(text, 1, 65535 - 20 - 8) else {
                    throw .fail("illegal sync-maxlen specified")
                }
                daemon.syncMaxLength = UInt16(length)
            case .tunnelInfo:
                try set(.tunnelInfo)
                format.insert(.tunnelInfo)
            case .tunnelType:
                try set(.tunnelType)
                guard let type = ["ipip", "gue", "gre"].firstIndex(of: text) else {
                    throw .fail("illegal tunnel type specified")
                }
                server.tunnelType = type
            case .tunnelPort:
                try set(.tunnelPort)
                guard let port = IPVSAdmTextParsing.number(text, 1, 65535) else {
                    throw .fail("illegal tunnel port specified")
                }
                server.tunnelPort = UInt16(port)
            case .tunnelNoChecksum:
                try set(.tunnelNoChecksum)
            case .tunnelChecksum:
                try set(.tunnelChecksum)
                server.tunnelFlags |= 1
            case .tunnelRemoteChecksum:
                try set(.tunnelRemoteChecksum)
                server.tunnelFlags |= 2
            case .addService, .editService, .deleteService, .clear, .list, .zero, .addServer, .editServer,
                .deleteServer, .set, .help, .version, .restore, .save, .startDaemon, .stopDaemon:
                throw .fail("invalid option `\(scanner.lastWord)'")
            }
        }

        var timeouts: (tcp: UInt32, tcpFin: UInt32, udp: UInt32) = (0, 0, 0)
        if command == .setTimeouts {
            guard let tcp = scanner.nextLeftover(), let fin = scanner.nextLeftover(), let udp = scanner.nextLeftover()
            else { throw .fail("--set option requires 3 timeout values") }
            var values: [UInt32] = []
            for text in [tcp, fin, udp] {
                guard let t = IPVSAdmTextParsing.timeout(text, 0, maxTimeout) else {
                    throw .fail("invalid timeout value `\(text)' specified")
                }
                values.append(t)
            }
            timeouts = (values[0], values[1], values[2])
        }
        if let extra = scanner.nextLeftover() { throw .fail("unexpected argument \(extra)") }

        if !schedulerFlagsText.isEmpty {
            service.flags.subtract(ServiceFlags.schedulerFlags)
            service.flags.formUnion(try schedulerFlags(schedulerFlagsText, scheduler: service.schedulerName))
        }

        if let message = CommandOptionMatrix.violation(command, options) { throw .fail(message) }

        if command == .addService || command == .editService {
            if service.firewallMark == 0 && service.port == 0 && !service.flags.contains(.persistent) {
                throw .fail("Zero port specified for non-persistent service")
            }
            if service.flags.contains(.onePacket) && service.firewallMark == 0
                && service.ipProtocol != UInt16(IPPROTO_UDP)
            {
                throw .fail("One-Packet Scheduling is only for UDP virtual services")
            }
            if service.schedulerName.isEmpty { service.schedulerName = "wlc" }
        }
        if command == .startDaemon && daemon.multicastInterface.isEmpty { daemon.multicastInterface = "eth0" }

        if command == .addServer || command == .editServer {
            // Direct routing and tunnels keep the service's port (ipvsadm does not let them differ).
            if service.firewallMark == 0 && (server.forwarding == .tunnel || server.forwarding == .route) {
                server.port = service.port
            }
            if server.family != service.family && server.forwarding != .tunnel {
                throw .fail("Different address family is allowed only for tunneling servers")
            }
            let tunnelOptions: [IPVSAdmOption] = [
                .tunnelType, .tunnelPort, .tunnelNoChecksum, .tunnelChecksum, .tunnelRemoteChecksum,
            ]
            if options.containsAny(tunnelOptions) && server.forwarding != .tunnel {
                throw .fail("Tunnel options conflict with forward method")
            }
            if let message = TunnelOptionMatrix.violation(tunnelType: server.tunnelType, options) {
                throw .fail(message)
            }
        }

        switch command {
        case .list:
            if (options.containsAny([.connection, .timeout, .daemon])
                && options.containsAny([.stats, .rate, .thresholds]))
                || (options.containsAny([.timeout, .daemon]) && options.contains(.persistentConnections))
            {
                throw .fail("options conflicts in the list command")
            }
        case .restore:
            if readingRestore { throw .tryHelp(program) }
        case .save:
            format.insert(.rule)
        default: break
        }

        return IPVSAdmInvocation(
            command: command, options: options, format: format, service: service, server: server,
            timeouts: timeouts, daemon: daemon)
    }

    /// ipvsadm `parse_sched_flags`: comma-separated names; sh-* and mh-* only with their scheduler (wlc when none
    /// was given).
    static func schedulerFlags(_ text: String, scheduler: String) throws(IPVSAdmExit) -> ServiceFlags {
        let scheduler = scheduler.isEmpty ? "wlc" : scheduler
        var flags: ServiceFlags = []
        let names = text.split(separator: ",", omittingEmptySubsequences: true)
        // ipvsadm (strtok) crashes on a list of commas only; refuse it as an unknown flag instead.
        if names.isEmpty { throw .fail("invalid scheduler flag `'") }
        for name in names {
            switch name {
            case "flag-1": flags.insert(.schedulerFlag1)
            case "flag-2": flags.insert(.schedulerFlag2)
            case "flag-3": flags.insert(.schedulerFlag3)
            case "sh-fallback", "sh-port", "mh-fallback", "mh-port":
                flags.insert(name.hasSuffix("fallback") ? .schedulerFlag1 : .schedulerFlag2)
                if scheduler != String(name.prefix(2)) { throw .fail("incompatible scheduler flag `\(name)'") }
            default: throw .fail("invalid scheduler flag `\(name)'")
            }
        }
        return flags
    }
}
