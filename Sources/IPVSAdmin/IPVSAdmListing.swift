import IPVSCore
import IPVSNetlink

/// A service and its real servers, as the kernel listed them.
public struct IPVSAdmServiceListing: Sendable {
    public var entry: IPVSServiceEntry
    public var destinations: [IPVSDestinationEntry]

    public init(_ entry: IPVSServiceEntry, _ destinations: [IPVSDestinationEntry]) {
        self.entry = entry
        self.destinations = destinations
    }
}

/// ipvsadm 1.31's listings, byte for byte (ipvsadm.c `list_all`, `list_service`, `print_title`,
/// `print_service_entry`, `print_largenum`, `print_sched_flags`, `print_tunnel_rule`, `fwd_tun_info`,
/// `list_timeout`): the column widths, the names cut at 33 and 28 bytes for IPv4, the `--exact` widths, and the
/// K/M/G/T abbreviations.
public struct IPVSAdmListing {
    public var format: IPVSAdmFormat
    public var resolver: any IPVSAdmNameResolver

    public init(format: IPVSAdmFormat, resolver: any IPVSAdmNameResolver = SystemNameResolver()) {
        self.format = format
        self.resolver = resolver
    }

    /// The first line of `-L` (not of `-S` nor of one service).
    public static func versionLine(_ info: IPVSInfo) -> String {
        "IP Virtual Server version \(info.version) (size=\(info.connectionTableSize))\n"
    }

    /// `list_all`: the version line (unless `-S`), the title, then every service sorted (unless `--nosort`).
    public func all(info: IPVSInfo, services: [IPVSAdmServiceListing]) -> String {
        var out = IPVSAdmTextBuffer(capacity: 256 * (services.count + 1))
        writeAll(info: info, services: services, into: &out)
        return out.string
    }

    /// ``all(info:services:)`` into `out`.
    public func writeAll(info: IPVSInfo, services: [IPVSAdmServiceListing], into out: inout IPVSAdmTextBuffer) {
        if !format.contains(.rule) { out.append(Self.versionLine(info)) }
        writeTitle(into: &out)
        for service in sortedServices(services) { write(service, into: &out) }
    }

    /// `list_service`: the title and one service.
    public func one(_ service: IPVSAdmServiceListing) -> String {
        var out = IPVSAdmTextBuffer(capacity: 256)
        writeTitle(into: &out)
        write(service, into: &out)
        return out.string
    }

    /// The services in ipvsadm's order: sorted by libipvs's comparator through glibc's qsort, or as the kernel
    /// listed them with `--nosort`.
    public func sortedServices(_ services: [IPVSAdmServiceListing]) -> [IPVSAdmServiceListing] {
        if format.contains(.noSort) { return services }
        var sorted = services
        IPVSAdmSortOrder.mergeSort(&sorted) { IPVSAdmSortOrder.compareServices($0.entry.service, $1.entry.service) }
        return sorted
    }

    /// `print_title`.
    public func title() -> String {
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

    /// ``title()`` into `out`.
    public func writeTitle(into out: inout IPVSAdmTextBuffer) { out.append(title()) }

    /// `print_service_entry`: the service line, then its real servers (sorted unless `--nosort`).
    public func service(_ listing: IPVSAdmServiceListing) -> String {
        var out = IPVSAdmTextBuffer(capacity: 256)
        write(listing, into: &out)
        return out.string
    }

    /// ``service(_:)`` into `out`: `print_service_entry`'s `printf`s, field by field.
    public func write(_ listing: IPVSAdmServiceListing, into out: inout IPVSAdmTextBuffer) {
        let destinations = listing.destinations
        let n = destinations.count
        if format.contains(.noSort) || n < 2 {
            write(listing.entry, sortedDestinations: destinations, into: &out)
            return
        }
        // ipvsadm's order (glibc's merge sort) of positions in stack memory: the entries, some 200 bytes each, stay
        // where they are, their sort keys are read once, and nothing is allocated (a 10 000-service listing sorts
        // 10 000 times).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * n) { memory in
            let order = UnsafeMutableBufferPointer(rebasing: memory[..<n])
            let scratch = UnsafeMutableBufferPointer(rebasing: memory[n...])
            destinations.withUnsafeBufferPointer { d in
                withUnsafeTemporaryAllocation(of: IPVSAdmSortOrder.ServerKey.self, capacity: n) { keys in
                    for i in 0..<n { (keys.baseAddress! + i).initialize(to: IPVSAdmSortOrder.ServerKey(d[i].server)) }
                    IPVSAdmSortOrder.serverOrder(UnsafeBufferPointer(keys), into: order, scratch: scratch)
                }
                let line = writeServiceLine(listing.entry, into: &out)
                let plain = writesPlainNumericLines
                for i in order {
                    if plain && Self.writeNumericIPv4Line(d[i], into: &out) { continue }
                    writeDestination(
                        d[i], serviceName: line.nameStart, nameLength: line.nameLength, ipProtocol: line.ipProtocol,
                        into: &out)
                }
            }
        }
    }

    /// One service line and the lines of `destinations`, which are printed in the order given (the caller sorted
    /// them, or `--nosort` keeps the kernel's order).
    public func write(
        _ entry: IPVSServiceEntry, sortedDestinations destinations: [IPVSDestinationEntry],
        into out: inout IPVSAdmTextBuffer
    ) {
        let line = writeServiceLine(entry, into: &out)
        for d in destinations {
            writeDestination(
                d, serviceName: line.nameStart, nameLength: line.nameLength, ipProtocol: line.ipProtocol, into: &out)
        }
    }

    /// The service's line; returns where its name lies in `out` (-S repeats it on destination lines) and its IP
    /// protocol (0 for a firewall mark), for the destination lines.
    private func writeServiceLine(
        _ entry: IPVSServiceEntry, into out: inout IPVSAdmTextBuffer
    ) -> (nameStart: Int, nameLength: Int, ipProtocol: UInt16) {
        let service = entry.service
        let rule = format.contains(.rule)
        let numeric = format.contains(.numeric)
        let ipProtocol: UInt16
        if rule { out.append("-A ") }
        // The service's name (its `svc_name`), written in place; destination lines of -S repeat it.
        let nameStart = out.count
        switch service.key {
        case .firewallMark(let mark, let family):
            ipProtocol = 0
            // ipvsadm 1.31 prints the mark with %d: marks above 2^31 come out negative.
            let shown = Int32(bitPattern: mark)
            out.append(rule ? "-f " : "FWM  ")
            out.appendDecimal(shown)
            if family == .inet6 { out.append(rule ? " -6" : " IPv6") }
        case .address(let p, let address, let port):
            ipProtocol = p.rawValue
            if rule {
                switch p {
                case .tcp: out.append("-t ")
                case .udp: out.append("-u ")
                case .sctp: out.append("--sctp-service ")
                }
            } else {
                switch p {
                case .tcp: out.append("TCP  ")
                case .udp: out.append("UDP  ")
                case .sctp: out.append("SCTP ")
                }
            }
            IPVSAdmAddressText.appendAddressPort(
                address, port: port, ipProtocol: ipProtocol, numeric: numeric, resolver: resolver, into: &out)
            if !rule && address.family != .inet6 { out.cut(from: nameStart, to: 33) }
        }
        let nameLength = out.count - nameStart

        let scheduler = service.scheduler.rawValue
        let flags = entry.kernelFlags
        let hasSchedulerFlags = !flags.intersection(ServiceFlags.schedulerFlags).isEmpty
        let v6 = service.key.family == .inet6
        if rule {
            out.append(" -s ")
            out.append(scheduler)
            if flags.contains(.persistent) {
                out.append(" -p ")
                out.appendDecimal(UInt64(service.persistenceTimeout))
                if !v6 && service.netmask != 0xffff_ffff {
                    out.append(" -M ")
                    out.appendNumeric(.v4(IPv4Address(service.netmask)))
                }
                if v6 && service.netmask != 128 {
                    out.append(" -M ")
                    out.appendDecimal(Int32(bitPattern: service.netmask))
                }
            }
            if let pe = service.persistenceEngine, !pe.isEmpty {
                out.append(" --pe ")
                out.append(pe)
            }
            if flags.contains(.onePacket) { out.append(" -o") }
            if hasSchedulerFlags {
                out.append(" -b ")
                Self.appendSchedulerFlagNames(scheduler, flags, into: &out)
            }
        } else if format.contains(.stats) {
            let s = entry.statistics
            out.padRight(from: nameStart, to: 33)
            appendLargeNumber(s.connections, into: &out)
            appendLargeNumber(s.incomingPackets, into: &out)
            appendLargeNumber(s.outgoingPackets, into: &out)
            appendLargeNumber(s.incomingBytes, into: &out)
            appendLargeNumber(s.outgoingBytes, into: &out)
        } else if format.contains(.rate) {
            let s = entry.statistics
            out.padRight(from: nameStart, to: 33)
            appendLargeNumber(s.connectionsPerSecond, into: &out)
            appendLargeNumber(s.incomingPacketsPerSecond, into: &out)
            appendLargeNumber(s.outgoingPacketsPerSecond, into: &out)
            appendLargeNumber(s.incomingBytesPerSecond, into: &out)
            appendLargeNumber(s.outgoingBytesPerSecond, into: &out)
        } else {
            out.append(UInt8(ascii: " "))
            out.append(scheduler)
            if hasSchedulerFlags {
                out.append(" (")
                Self.appendSchedulerFlagNames(scheduler, flags, into: &out)
                out.append(UInt8(ascii: ")"))
            }
            if flags.contains(.persistent) {
                out.append(" persistent ")
                out.appendDecimal(UInt64(service.persistenceTimeout))
                if !v6 && service.netmask != 0xffff_ffff {
                    out.append(" mask ")
                    out.appendNumeric(.v4(IPv4Address(service.netmask)))
                }
                if v6 && service.netmask != 128 {
                    out.append(" mask ")
                    out.appendDecimal(Int32(bitPattern: service.netmask))
                }
                if let pe = service.persistenceEngine, !pe.isEmpty {
                    out.append(" pe ")
                    out.append(pe)
                }
            }
            if flags.contains(.onePacket) { out.append(" ops") }
        }
        out.append(UInt8(ascii: "\n"))
        return (nameStart, nameLength, ipProtocol)
    }

    /// `print_service_entry`'s line for one real server. `serviceName` is where the service's name lies in `out`
    /// (-S repeats it).
    func writeDestination(
        _ d: IPVSDestinationEntry, serviceName: Int, nameLength: Int, ipProtocol: UInt16,
        into out: inout IPVSAdmTextBuffer
    ) {
        let server = d.server
        let rule = format.contains(.rule)
        if rule {
            out.append("-a ")
            out.appendCopy(from: serviceName, count: nameLength)
            out.append(" -r ")
            IPVSAdmAddressText.appendAddressPort(
                server.address, port: server.port, ipProtocol: ipProtocol, numeric: format.contains(.numeric),
                resolver: resolver, into: &out)
            out.append(UInt8(ascii: " "))
            out.append(Self.forwardingSwitch(server.forwarding))
            out.append(" -w ")
            out.appendDecimal(server.weight)
            if server.forwarding == .tunnel {
                let flagIndex = Int(min(server.tunnelFlags.rawValue, 2))
                switch server.tunnelType {
                case .gre:
                    out.append(" --tun-type gre ")
                    out.append(Self.tunnelFlagOptions[flagIndex])
                case .gue:
                    out.append(" --tun-type gue --tun-port ")
                    out.appendDecimal(UInt64(server.tunnelPort))
                    out.append(UInt8(ascii: " "))
                    out.append(Self.tunnelFlagOptions[flagIndex])
                case .ipip: out.append(" --tun-type ipip")
                }
            }
            out.append(UInt8(ascii: "\n"))
            return
        }
        if writesPlainNumericLines, Self.writeNumericIPv4Line(d, into: &out) { return }
        out.append("  -> ")
        let nameStart = out.count
        IPVSAdmAddressText.appendAddressPort(
            server.address, port: server.port, ipProtocol: ipProtocol, numeric: format.contains(.numeric),
            resolver: resolver, into: &out)
        if server.address.family != .inet6 { out.cut(from: nameStart, to: 28) }
        out.padRight(from: nameStart, to: 28)
        let s = d.statistics
        if format.contains(.stats) {
            appendLargeNumber(s.connections, into: &out)
            appendLargeNumber(s.incomingPackets, into: &out)
            appendLargeNumber(s.outgoingPackets, into: &out)
            appendLargeNumber(s.incomingBytes, into: &out)
            appendLargeNumber(s.outgoingBytes, into: &out)
        } else if format.contains(.rate) {
            // The three packet rates are printed with %8u, not print_largenum.
            out.append(UInt8(ascii: " "))
            out.appendDecimal(s.connectionsPerSecond, width: 8)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(s.incomingPacketsPerSecond, width: 8)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(s.outgoingPacketsPerSecond, width: 8)
            appendLargeNumber(s.incomingBytesPerSecond, into: &out)
            appendLargeNumber(s.outgoingBytesPerSecond, into: &out)
        } else if format.contains(.thresholds) {
            out.append(UInt8(ascii: " "))
            out.appendDecimalLeft(UInt64(server.upperThreshold), width: 10)
            out.append(UInt8(ascii: " "))
            out.appendDecimalLeft(UInt64(server.lowerThreshold), width: 10)
            appendConnections(d, into: &out)
        } else if format.contains(.persistentConnections) {
            out.append(UInt8(ascii: " "))
            out.appendSigned(Int64(server.weight), width: -9)
            out.append(UInt8(ascii: " "))
            out.appendDecimalLeft(UInt64(d.persistentConnections), width: 11)
            appendConnections(d, into: &out)
        } else {
            out.append(UInt8(ascii: " "))
            out.append(Self.forwardingName(server.forwarding))
            if format.contains(.tunnelInfo) {
                out.append(UInt8(ascii: " "))
                let start = out.count
                Self.appendTunnelInfo(server, into: &out)
                out.padRight(from: start, to: 13)
            }
            out.append(UInt8(ascii: " "))
            out.appendSigned(Int64(server.weight), width: -6)
            appendConnections(d, into: &out)
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// The formats whose server lines differ from plain `-L`'s (other columns, or `-S`'s rules).
    static let columnsBeyondPlain: IPVSAdmFormat = [
        .rule, .stats, .rate, .thresholds, .persistentConnections, .tunnelInfo,
    ]

    /// `-Ln` without other columns: its IPv4 server lines can take ``writeNumericIPv4Line(_:into:)``.
    var writesPlainNumericLines: Bool { format.isDisjoint(with: Self.columnsBeyondPlain) && format.contains(.numeric) }

    /// A plain `-Ln` server line for an IPv4 server, the one line of a large listing: the same bytes as the general
    /// path (`"  -> %-28s %-7s %-6d %-10u %-10u\n"` with the address and port as the name), written into a run of
    /// spaces laid down with 8-byte stores, each field at its column. The name is at most 21 bytes, so never cut;
    /// a weight of 0…999 999 and any 32-bit count fit their columns.
    /// Returns false, having written nothing, for a server it does not cover (IPv6, or a weight outside 0…999 999).
    @inline(__always)
    static func writeNumericIPv4Line(_ d: IPVSDestinationEntry, into out: inout IPVSAdmTextBuffer) -> Bool {
        guard case .v4(let a) = d.server.address, d.server.weight >= 0, d.server.weight < 1_000_000 else {
            return false
        }
        // Columns: "  -> " 0-4, name 5-32, method 34-40, weight 42-47, active 49-58, inactive 60-69, "\n" 70.
        out.reserve(72)
        let p = UnsafeMutableRawPointer(out.base + out.count)
        let spaces: UInt64 = 0x2020_2020_2020_2020
        for offset in stride(from: 0, to: 72, by: 8) { p.storeBytes(of: spaces, toByteOffset: offset, as: UInt64.self) }
        p.storeBytes(of: UInt8(ascii: "-"), toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: UInt8(ascii: ">"), toByteOffset: 3, as: UInt8.self)
        let at = IPVSAdmTextBuffer.storeDottedQuad(a.value, p, 5)
        p.storeBytes(of: UInt8(ascii: ":"), toByteOffset: at, as: UInt8.self)
        _ = IPVSAdmTextBuffer.storeDecimal(UInt64(d.server.port), p, at + 1)
        // " Masq   " and the others: the space before the method and its 7 columns, one store.
        p.storeBytes(of: forwardingColumn(d.server.forwarding), toByteOffset: 33, as: UInt64.self)
        _ = IPVSAdmTextBuffer.storeDecimal(UInt64(d.server.weight), p, 42)
        _ = IPVSAdmTextBuffer.storeDecimal(UInt64(d.activeConnections), p, 49)
        _ = IPVSAdmTextBuffer.storeDecimal(UInt64(d.inactiveConnections), p, 60)
        p.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: 70, as: UInt8.self)
        out.count += 71
        return true
    }

    /// " " and ``forwardingName(_:)`` as the 8 bytes of a little-endian word (ASCII, first byte lowest).
    @inline(__always)
    static func forwardingColumn(_ f: ForwardingMethod) -> UInt64 {
        let text: StaticString = switch f {
        case .masquerade: " Masq   "
        case .local: " Local  "
        case .tunnel: " Tunnel "
        case .route: " Route  "
        }
        return UnsafeRawPointer(text.utf8Start).loadUnaligned(as: UInt64.self).littleEndian
    }

    /// " ActiveConn InActConn" columns: `%-10u %-10u`.
    @inline(__always)
    private func appendConnections(_ d: IPVSDestinationEntry, into out: inout IPVSAdmTextBuffer) {
        out.append(UInt8(ascii: " "))
        out.appendDecimalLeft(UInt64(d.activeConnections), width: 10)
        out.append(UInt8(ascii: " "))
        out.appendDecimalLeft(UInt64(d.inactiveConnections), width: 10)
    }

    /// `list_timeout`.
    public static func timeouts(_ t: IPVSTimeouts) -> String {
        "Timeout (tcp tcpfin udp): \(Int32(bitPattern: t.tcp)) \(Int32(bitPattern: t.tcpFin)) \(Int32(bitPattern: t.udp))\n"
    }

    /// `list_daemon`: one line per running daemon, master first; the optional fields only when the kernel gave
    /// them and they are not 0.
    public static func daemons(_ daemons: [IPVSSyncDaemon]) -> String {
        var out = ""
        for role in [IPVSSyncDaemon.Role.master, .backup] {
            guard let d = daemons.first(where: { $0.role == role }) else { continue }
            out += "\(role) sync daemon (mcast=\(d.interface), syncid=\(d.syncID)"
            if let length = d.maximumMessageLength, length != 0 { out += ", maxlen=\(length)" }
            if let group = d.multicastGroup { out += ", group=\(IPVSAdmAddressText.numeric(group))" }
            if let port = d.multicastPort, port != 0 { out += ", port=\(port)" }
            if let ttl = d.multicastTTL, ttl != 0 { out += ", ttl=\(ttl)" }
            out += ")\n"
        }
        return out
    }

    // MARK: - Pieces

    static let tunnelFlagOptions: [StaticString] = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"]
    static let tunnelFlagMarks: [StaticString] = ["-c", "+c", "r+c"]

    /// `fwd_switch`.
    static func forwardingSwitch(_ f: ForwardingMethod) -> StaticString {
        switch f {
        case .masquerade: return "-m"
        case .tunnel: return "-i"
        case .local, .route: return "-g"
        }
    }

    /// `fwd_name`, padded to ipvsadm's `%-7s`.
    static func forwardingName(_ f: ForwardingMethod) -> StaticString {
        switch f {
        case .masquerade: return "Masq   "
        case .local: return "Local  "
        case .tunnel: return "Tunnel "
        case .route: return "Route  "
        }
    }

    /// `fwd_tun_info`: "n/a" unless tunnelled; cut to 15 bytes as its 16-byte buffer cuts it.
    static func appendTunnelInfo(_ server: RealServer, into out: inout IPVSAdmTextBuffer) {
        guard server.forwarding == .tunnel else { return out.append("n/a") }
        let start = out.count
        let flags = tunnelFlagMarks[Int(min(server.tunnelFlags.rawValue, 2))]
        switch server.tunnelType {
        case .ipip: out.append("ipip")
        case .gue:
            out.append("gue:")
            out.appendDecimal(UInt64(server.tunnelPort))
            out.append(UInt8(ascii: ":"))
            out.append(flags)
        case .gre:
            out.append("gre:")
            out.append(flags)
        }
        out.cut(from: start, to: 15)
    }

    /// `print_sched_flags`: sh and mh name their flags; every other scheduler prints flag-N.
    static func schedulerFlagNames(_ scheduler: String, _ flags: ServiceFlags) -> String {
        var out = IPVSAdmTextBuffer(capacity: 64)
        appendSchedulerFlagNames(scheduler, flags, into: &out)
        return out.string
    }

    static func appendSchedulerFlagNames(_ scheduler: String, _ flags: ServiceFlags, into out: inout IPVSAdmTextBuffer) {
        var first = true
        func name(_ out: inout IPVSAdmTextBuffer, _ body: (inout IPVSAdmTextBuffer) -> Void) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            body(&out)
        }
        if scheduler == "sh" || scheduler == "mh" {
            if flags.contains(.schedulerFlag1) { name(&out) { $0.append(scheduler); $0.append("-fallback") } }
            if flags.contains(.schedulerFlag2) { name(&out) { $0.append(scheduler); $0.append("-port") } }
        } else {
            if flags.contains(.schedulerFlag1) { name(&out) { $0.append("flag-1") } }
            if flags.contains(.schedulerFlag2) { name(&out) { $0.append("flag-2") } }
            if flags.contains(.schedulerFlag3) { name(&out) { $0.append("flag-3") } }
        }
    }

    /// `print_largenum`: 9 columns; K, M, G, T past 10^8; `--exact` widens instead (a space, then the digits).
    func appendLargeNumber(_ i: UInt64, into out: inout IPVSAdmTextBuffer) {
        if format.contains(.exact) || i < 100_000_000 {
            if i >= 100_000_000 { out.append(UInt8(ascii: " ")) }
            out.appendDecimal(i, width: 9)
            return
        }
        let unit: UInt8
        let shown: UInt64
        if i < 1_000_000_000 {
            (shown, unit) = (i / 1000, UInt8(ascii: "K"))
        } else if i < 100_000_000_000 {
            (shown, unit) = (i / 1_000_000, UInt8(ascii: "M"))
        } else if i < 100_000_000_000_000 {
            (shown, unit) = (i / 1_000_000_000, UInt8(ascii: "G"))
        } else {
            (shown, unit) = (i / 1_000_000_000_000, UInt8(ascii: "T"))
        }
        out.appendDecimal(shown, width: 8)
        out.append(unit)
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
