import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

// The listing formatter as it was before listings were written into one byte buffer (IPVSAdmListing before
// IPVSAdmTextBuffer): every field a String, padded and concatenated. Kept here, unchanged, as the oracle of
// IPVSAdmListingByteFormatterTests: the byte formatter must print exactly what this printed, for every mode.

/// ipvsadm 1.31's listings, byte for byte (ipvsadm.c `list_all`, `list_service`, `print_title`,
/// `print_service_entry`, `print_largenum`, `print_sched_flags`, `print_tunnel_rule`, `fwd_tun_info`,
/// `list_timeout`): the column widths, the names cut at 33 and 28 bytes for IPv4, the `--exact` widths, and the
/// K/M/G/T abbreviations.
struct StringListingReference {
    var format: IPVSAdmFormat
    var resolver: any IPVSAdmNameResolver

    init(format: IPVSAdmFormat, resolver: any IPVSAdmNameResolver = SystemNameResolver()) {
        self.format = format
        self.resolver = resolver
    }

    /// The first line of `-L` (not of `-S` nor of one service).
    static func versionLine(_ info: IPVSInfo) -> String {
        "IP Virtual Server version \(info.version) (size=\(info.connectionTableSize))\n"
    }

    /// `list_all`: the version line (unless `-S`), the title, then every service sorted (unless `--nosort`).
    func all(info: IPVSInfo, services: [IPVSAdmServiceListing]) -> String {
        var out = format.contains(.rule) ? "" : Self.versionLine(info)
        out += title()
        for service in sortedServices(services) { out += self.service(service) }
        return out
    }

    /// `list_service`: the title and one service.
    func one(_ service: IPVSAdmServiceListing) -> String { title() + self.service(service) }

    /// The services in ipvsadm's order: sorted by libipvs's comparator through glibc's qsort, or as the kernel
    /// listed them with `--nosort`.
    func sortedServices(_ services: [IPVSAdmServiceListing]) -> [IPVSAdmServiceListing] {
        if format.contains(.noSort) { return services }
        var sorted = services
        IPVSAdmSortOrder.mergeSort(&sorted) { IPVSAdmSortOrder.compareServices($0.entry.service, $1.entry.service) }
        return sorted
    }

    /// `print_title`.
    func title() -> String {
        let prot = Self.padRight("Prot LocalAddress:Port", 33)
        if format.contains(.stats) {
            return prot + ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"].map { " " + Self.padLeft($0, 8) }
                .joined() + "\n  -> RemoteAddress:Port\n"
        }
        if format.contains(.rate) {
            return prot + ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"].map { " " + Self.padLeft($0, 8) }.joined()
                + "\n  -> RemoteAddress:Port\n"
        }
        if format.contains(.thresholds) {
            return prot + ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"].map { " " + Self.padRight($0, 10) }
                .joined() + "\n  -> RemoteAddress:Port\n"
        }
        if format.contains(.persistentConnections) {
            return prot + " " + Self.padRight("Weight", 9) + " " + Self.padRight("PersistConn", 11) + " "
                + Self.padRight("ActiveConn", 10) + " " + Self.padRight("InActConn", 10) + "\n  -> RemoteAddress:Port\n"
        }
        if format.contains(.tunnelInfo) {
            return "Prot LocalAddress:Port Scheduler Flags\n"
                + "  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        }
        if format.contains(.rule) { return "" }
        return "Prot LocalAddress:Port Scheduler Flags\n"
            + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    }

    /// `print_service_entry`: the service line, then its real servers (sorted unless `--nosort`).
    func service(_ listing: IPVSAdmServiceListing) -> String {
        let entry = listing.entry
        let service = entry.service
        let rule = format.contains(.rule)
        let numeric = format.contains(.numeric)
        let ipProtocol: UInt16
        var name: String
        switch service.key {
        case .firewallMark(let mark, let family):
            ipProtocol = 0
            // ipvsadm 1.31 prints the mark with %d: marks above 2^31 come out negative.
            let shown = Int32(bitPattern: mark)
            if rule {
                name = family == .inet6 ? "-f \(shown) -6" : "-f \(shown)"
            } else {
                name = family == .inet6 ? "FWM  \(shown) IPv6" : "FWM  \(shown)"
            }
        case .address(let p, let address, let port):
            ipProtocol = p.rawValue
            let vname = StringAddressText.addressPort(
                address, port: port, ipProtocol: ipProtocol, numeric: numeric, resolver: resolver)
            if rule {
                let option: String
                switch p {
                case .tcp: option = "-t"
                case .udp: option = "-u"
                case .sctp: option = "--sctp-service"
                }
                name = option + " " + vname
            } else {
                let protocolName: String
                switch p {
                case .tcp: protocolName = "TCP"
                case .udp: protocolName = "UDP"
                case .sctp: protocolName = "SCTP"
                }
                name = Self.padRight(protocolName, 4) + " " + vname
                if address.family != .inet6 { name = Self.cut(name, 33) }
            }
        }

        var out = ""
        let scheduler = service.scheduler.rawValue
        let flags = entry.kernelFlags
        let hasSchedulerFlags = !flags.intersection(ServiceFlags.schedulerFlags).isEmpty
        let v6 = service.key.family == .inet6
        if rule {
            out += "-A \(name) -s \(scheduler)"
            if flags.contains(.persistent) {
                out += " -p \(service.persistenceTimeout)"
                if !v6 && service.netmask != 0xffff_ffff {
                    out += " -M \(StringAddressText.numeric(.v4(IPv4Address(service.netmask))))"
                }
                if v6 && service.netmask != 128 { out += " -M \(Int32(bitPattern: service.netmask))" }
            }
            if let pe = service.persistenceEngine, !pe.isEmpty { out += " --pe \(pe)" }
            if flags.contains(.onePacket) { out += " -o" }
            if hasSchedulerFlags { out += " -b " + Self.schedulerFlagNames(scheduler, flags) }
        } else if format.contains(.stats) {
            let s = entry.statistics
            out += Self.padRight(name, 33)
            for v in [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes] {
                out += largeNumber(v)
            }
        } else if format.contains(.rate) {
            let s = entry.statistics
            out += Self.padRight(name, 33)
            for v in [
                s.connectionsPerSecond, s.incomingPacketsPerSecond, s.outgoingPacketsPerSecond,
                s.incomingBytesPerSecond, s.outgoingBytesPerSecond,
            ] { out += largeNumber(v) }
        } else {
            out += "\(name) \(scheduler)"
            if hasSchedulerFlags { out += " (" + Self.schedulerFlagNames(scheduler, flags) + ")" }
            if flags.contains(.persistent) {
                out += " persistent \(service.persistenceTimeout)"
                if !v6 && service.netmask != 0xffff_ffff {
                    out += " mask \(StringAddressText.numeric(.v4(IPv4Address(service.netmask))))"
                }
                if v6 && service.netmask != 128 { out += " mask \(Int32(bitPattern: service.netmask))" }
                if let pe = service.persistenceEngine, !pe.isEmpty { out += " pe \(pe)" }
            }
            if flags.contains(.onePacket) { out += " ops" }
        }
        out += "\n"

        var destinations = listing.destinations
        if !format.contains(.noSort) {
            IPVSAdmSortOrder.mergeSort(&destinations) { IPVSAdmSortOrder.compareServers($0.server, $1.server) }
        }
        for d in destinations { out += destination(d, serviceName: name, ipProtocol: ipProtocol) }
        return out
    }

    func destination(_ d: IPVSDestinationEntry, serviceName: String, ipProtocol: UInt16) -> String {
        let server = d.server
        var dname = StringAddressText.addressPort(
            server.address, port: server.port, ipProtocol: ipProtocol, numeric: format.contains(.numeric),
            resolver: resolver)
        let rule = format.contains(.rule)
        if !rule && server.address.family != .inet6 { dname = Self.cut(dname, 28) }
        let s = d.statistics
        if rule {
            let prefix = "-a \(serviceName) -r \(dname) \(Self.forwardingSwitch(server.forwarding)) -w \(server.weight)"
            guard server.forwarding == .tunnel else { return prefix + "\n" }
            let flagIndex = Int(min(server.tunnelFlags.rawValue, 2))
            switch server.tunnelType {
            case .gre: return prefix + " --tun-type gre \(Self.tunnelFlagOptions[flagIndex])\n"
            case .gue:
                return prefix + " --tun-type gue --tun-port \(server.tunnelPort) \(Self.tunnelFlagOptions[flagIndex])\n"
            case .ipip: return prefix + " --tun-type ipip\n"
            }
        }
        if format.contains(.stats) {
            var line = "  -> " + Self.padRight(dname, 28)
            for v in [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes] {
                line += largeNumber(v)
            }
            return line + "\n"
        }
        if format.contains(.rate) {
            var line = "  -> " + Self.padRight(dname, 28)
            for v in [s.connectionsPerSecond, s.incomingPacketsPerSecond, s.outgoingPacketsPerSecond] {
                line += " " + Self.padLeft("\(v)", 8)
            }
            return line + largeNumber(s.incomingBytesPerSecond) + largeNumber(s.outgoingBytesPerSecond) + "\n"
        }
        if format.contains(.thresholds) {
            return "  -> " + Self.padRight(dname, 28) + " " + Self.padRight("\(server.upperThreshold)", 10) + " "
                + Self.padRight("\(server.lowerThreshold)", 10) + " " + Self.padRight("\(d.activeConnections)", 10)
                + " " + Self.padRight("\(d.inactiveConnections)", 10) + "\n"
        }
        if format.contains(.persistentConnections) {
            return "  -> " + Self.padRight(dname, 28) + " " + Self.padRight("\(server.weight)", 9) + " "
                + Self.padRight("\(d.persistentConnections)", 11) + " " + Self.padRight("\(d.activeConnections)", 10)
                + " " + Self.padRight("\(d.inactiveConnections)", 10) + "\n"
        }
        if format.contains(.tunnelInfo) {
            return "  -> " + Self.padRight(dname, 28) + " " + Self.padRight(server.forwarding.description, 7) + " "
                + Self.padRight(Self.tunnelInfo(server) ?? "n/a", 13) + " " + Self.padRight("\(server.weight)", 6) + " "
                + Self.padRight("\(d.activeConnections)", 10) + " " + Self.padRight("\(d.inactiveConnections)", 10)
                + "\n"
        }
        return "  -> " + Self.padRight(dname, 28) + " " + Self.padRight(server.forwarding.description, 7) + " "
            + Self.padRight("\(server.weight)", 6) + " " + Self.padRight("\(d.activeConnections)", 10) + " "
            + Self.padRight("\(d.inactiveConnections)", 10) + "\n"
    }

    /// `list_timeout`.
    static func timeouts(_ t: IPVSTimeouts) -> String {
        "Timeout (tcp tcpfin udp): \(Int32(bitPattern: t.tcp)) \(Int32(bitPattern: t.tcpFin)) \(Int32(bitPattern: t.udp))\n"
    }

    /// `list_daemon`: one line per running daemon, master first; the optional fields only when the kernel gave
    /// them and they are not 0.
    static func daemons(_ daemons: [IPVSSyncDaemon]) -> String {
        var out = ""
        for role in [IPVSSyncDaemon.Role.master, .backup] {
            guard let d = daemons.first(where: { $0.role == role }) else { continue }
            out += "\(role) sync daemon (mcast=\(d.interface), syncid=\(d.syncID)"
            if let length = d.maximumMessageLength, length != 0 { out += ", maxlen=\(length)" }
            if let group = d.multicastGroup { out += ", group=\(StringAddressText.numeric(group))" }
            if let port = d.multicastPort, port != 0 { out += ", port=\(port)" }
            if let ttl = d.multicastTTL, ttl != 0 { out += ", ttl=\(ttl)" }
            out += ")\n"
        }
        return out
    }

    // MARK: - Pieces

    static let tunnelFlagOptions = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"]
    static let tunnelFlagMarks = ["-c", "+c", "r+c"]

    /// `fwd_switch`.
    static func forwardingSwitch(_ f: ForwardingMethod) -> String {
        switch f {
        case .masquerade: return "-m"
        case .tunnel: return "-i"
        case .local, .route: return "-g"
        }
    }

    /// `fwd_tun_info`: nil unless tunnelled; cut to 15 bytes as its 16-byte buffer cuts it.
    static func tunnelInfo(_ server: RealServer) -> String? {
        guard server.forwarding == .tunnel else { return nil }
        let flags = tunnelFlagMarks[Int(min(server.tunnelFlags.rawValue, 2))]
        switch server.tunnelType {
        case .ipip: return "ipip"
        case .gue: return cut("gue:\(server.tunnelPort):\(flags)", 15)
        case .gre: return cut("gre:\(flags)", 15)
        }
    }

    /// `print_sched_flags`: sh and mh name their flags; every other scheduler prints flag-N.
    static func schedulerFlagNames(_ scheduler: String, _ flags: ServiceFlags) -> String {
        var names: [String] = []
        if scheduler == "sh" || scheduler == "mh" {
            if flags.contains(.schedulerFlag1) { names.append("\(scheduler)-fallback") }
            if flags.contains(.schedulerFlag2) { names.append("\(scheduler)-port") }
        } else {
            if flags.contains(.schedulerFlag1) { names.append("flag-1") }
            if flags.contains(.schedulerFlag2) { names.append("flag-2") }
            if flags.contains(.schedulerFlag3) { names.append("flag-3") }
        }
        return names.joined(separator: ",")
    }

    /// `print_largenum`: 9 columns; K, M, G, T past 10^8; `--exact` widens instead.
    func largeNumber(_ i: UInt64) -> String {
        if format.contains(.exact) {
            let digits = "\(i)"
            return Self.padLeft(digits, digits.utf8.count <= 8 ? 9 : digits.utf8.count + 1)
        }
        if i < 100_000_000 { return Self.padLeft("\(i)", 9) }
        if i < 1_000_000_000 { return Self.padLeft("\(i / 1000)", 8) + "K" }
        if i < 100_000_000_000 { return Self.padLeft("\(i / 1_000_000)", 8) + "M" }
        if i < 100_000_000_000_000 { return Self.padLeft("\(i / 1_000_000_000)", 8) + "G" }
        return Self.padLeft("\(i / 1_000_000_000_000)", 8) + "T"
    }

    /// `%-Ns`.
    static func padRight(_ s: String, _ width: Int) -> String {
        let n = s.utf8.count
        return n >= width ? s : s + String(repeating: " ", count: width - n)
    }

    /// `%Ns`.
    static func padLeft(_ s: String, _ width: Int) -> String {
        let n = s.utf8.count
        return n >= width ? s : String(repeating: " ", count: width - n) + s
    }

    /// The first `bytes` bytes, as a C string cut by a NUL or a buffer size.
    static func cut(_ s: String, _ bytes: Int) -> String {
        s.utf8.count <= bytes ? s : String(decoding: s.utf8.prefix(bytes), as: UTF8.self)
    }
}

/// ipvsadm's address formatting.
enum StringAddressText {
    /// `inet_ntop`.
    static func numeric(_ address: IPAddress) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        switch address {
        case .v4(let a):
            var raw = in_addr(s_addr: a.value.bigEndian)
            _ = inet_ntop(AF_INET, &raw, &buffer, 64)
        case .v6(let a):
            var bytes = a.bytes
            _ = inet_ntop(AF_INET6, &bytes, &buffer, 64)
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// ipvsadm `addrport_to_anyname`: `addr:port`, `[v6]:port`, names unless numeric; cut to 59 bytes as its
    /// 60-byte buffer cuts it.
    static func addressPort(
        _ address: IPAddress, port: UInt16, ipProtocol: UInt16, numeric: Bool, resolver: any IPVSAdmNameResolver
    ) -> String {
        let v6 = address.family == .inet6
        let host = numeric ? Self.numeric(address) : (resolver.hostName(address) ?? Self.numeric(address))
        let portText = numeric ? "\(port)" : (resolver.serviceName(port: port, ipProtocol: ipProtocol) ?? "\(port)")
        let text = (v6 ? "[" : "") + host + (v6 ? "]" : "") + ":" + portText
        return StringListingReference.cut(text, 59)
    }
}
