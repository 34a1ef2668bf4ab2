import IPVSCore
import IPVSNetlink

/// `ipvsctl … --json`: every listing as one JSON document of the schema docs/ipvsctl-json.md describes (version 1).
/// The document is built from the values the kernel returned, never from the text listing: every counter is the
/// kernel's 64-bit value in full (no K/M/G abbreviation, no 32-bit cut), every address is numeric, and the keys come
/// in the documented order.
///
/// Every document starts with `schema`, `version`, `kind` and `ipvs` (IPVS_CMD_GET_INFO); then the payload of its
/// kind: `services` (-L), `service` (-L with a service), `rules` (-S), `connections` (-c), `timeouts` (--timeout),
/// `daemons` (--daemon).
public enum IPVSAdmJSON {
    public static let schema = "ipvsctl-json"
    /// Raised only when a field changes meaning or goes away; new fields may appear within a version.
    public static let version: UInt64 = 1

    /// What the document lists; its `kind` member.
    public enum Kind: String, Sendable, CaseIterable {
        case services, service, rules, connections, timeouts, daemons
    }

    /// `-L --json` (every listing format option gives this same document): every service with its destinations,
    /// in ipvsadm's order, or the kernel's with `--nosort`.
    public static func services(info: IPVSInfo, services: [IPVSAdmServiceListing], noSort: Bool) -> String {
        var w = header(.services, info)
        w.key("services")
        w.beginArray()
        for s in ordered(services, noSort: noSort) { service(&w, s, noSort: noSort, withCounters: true) }
        w.endArray()
        return finish(&w)
    }

    /// `-L -t|-u|-f … --json`: one service.
    public static func service(info: IPVSInfo, _ listing: IPVSAdmServiceListing, noSort: Bool) -> String {
        var w = header(.service, info)
        w.key("service")
        service(&w, listing, noSort: noSort, withCounters: true)
        return finish(&w)
    }

    /// `-S --json`: the rules only, in `-S`'s order: the services and destinations without any counter, rate or
    /// connection count, so that two saves of the same configuration are the same bytes.
    public static func rules(info: IPVSInfo, services: [IPVSAdmServiceListing], noSort: Bool) -> String {
        var w = header(.rules, info)
        w.key("services")
        w.beginArray()
        for s in ordered(services, noSort: noSort) { service(&w, s, noSort: noSort, withCounters: false) }
        w.endArray()
        return finish(&w)
    }

    /// `-Lc --json`: the connection table as /proc/net/ip_vs_conn lists it, in its order.
    public static func connections(info: IPVSInfo, _ entries: [IPVSConnectionEntry]) -> String {
        var w = header(.connections, info)
        w.key("connections")
        w.beginArray()
        for c in entries {
            w.beginObject()
            w.member("protocol", c.protocolName.lowercased())
            w.member("client_address", IPVSAdmAddressText.numeric(c.client))
            w.member("client_port", c.clientPort)
            w.member("virtual_address", IPVSAdmAddressText.numeric(c.virtualAddress))
            w.member("virtual_port", c.virtualPort)
            w.member("destination_address", IPVSAdmAddressText.numeric(c.destination))
            w.member("destination_port", c.destinationPort)
            w.member("state", c.state)
            w.member("expires", c.expiresInSeconds)
            w.member("template", c.isTemplate)
            w.member("persistence_engine", c.persistenceEngine)
            w.member("persistence_data", c.persistenceData)
            w.endObject()
        }
        w.endArray()
        return finish(&w)
    }

    /// `-L --timeout --json`.
    public static func timeouts(info: IPVSInfo, _ t: IPVSTimeouts) -> String {
        var w = header(.timeouts, info)
        w.key("timeouts")
        w.beginObject()
        w.member("tcp", t.tcp)
        w.member("tcp_fin", t.tcpFin)
        w.member("udp", t.udp)
        w.endObject()
        return finish(&w)
    }

    /// `-L --daemon --json`: the running sync daemons, master first (as ipvsadm lists them); the optional fields
    /// are null when the kernel did not report them.
    public static func daemons(info: IPVSInfo, _ daemons: [IPVSSyncDaemon]) -> String {
        var w = header(.daemons, info)
        w.key("daemons")
        w.beginArray()
        for role in [IPVSSyncDaemon.Role.master, .backup] {
            guard let d = daemons.first(where: { $0.role == role }) else { continue }
            w.beginObject()
            w.member("role", role.description)
            w.member("interface", d.interface)
            w.member("syncid", d.syncID)
            w.member("sync_maxlen", d.maximumMessageLength)
            w.member("mcast_group", d.multicastGroup.map(IPVSAdmAddressText.numeric))
            w.member("mcast_port", d.multicastPort)
            w.member("mcast_ttl", d.multicastTTL)
            w.endObject()
        }
        w.endArray()
        return finish(&w)
    }

    // MARK: - Pieces

    static func header(_ kind: Kind, _ info: IPVSInfo) -> IPVSJSONWriter {
        var w = IPVSJSONWriter()
        w.beginObject()
        w.member("schema", schema)
        w.key("version")
        w.value(version)
        w.member("kind", kind.rawValue)
        w.key("ipvs")
        w.beginObject()
        w.member("version", info.version)
        w.member("connection_table_size", info.connectionTableSize)
        w.endObject()
        return w
    }

    static func finish(_ w: inout IPVSJSONWriter) -> String {
        w.endObject()
        return w.text + "\n"
    }

    static func ordered(_ services: [IPVSAdmServiceListing], noSort: Bool) -> [IPVSAdmServiceListing] {
        IPVSAdmListing(format: noSort ? .noSort : [], resolver: NoNames()).sortedServices(services)
    }

    static func service(_ w: inout IPVSJSONWriter, _ listing: IPVSAdmServiceListing, noSort: Bool, withCounters: Bool) {
        let entry = listing.entry
        let s = entry.service
        let flags = entry.kernelFlags
        let v6 = s.key.family == .inet6
        w.beginObject()
        switch s.key {
        case .address(let p, let address, let port):
            w.member("protocol", p.description.lowercased())
            w.member("family", s.key.family.description)
            w.member("address", IPVSAdmAddressText.numeric(address))
            w.member("port", port)
            w.member("fwmark", UInt32?.none)
        case .firewallMark(let mark, let family):
            w.member("protocol", String?.none)
            w.member("family", family.description)
            w.member("address", String?.none)
            w.member("port", UInt16?.none)
            w.member("fwmark", mark)
        }
        w.member("scheduler", s.scheduler.rawValue)
        w.member("flags", flags.rawValue)
        w.member("scheduler_flags", schedulerFlagNames(s.scheduler.rawValue, flags))
        w.member("persistent", flags.contains(.persistent))
        w.member("persistence_timeout", s.persistenceTimeout)
        w.member("netmask", v6 ? nil : IPVSAdmAddressText.numeric(.v4(IPv4Address(s.netmask))))
        w.member("prefix_length", v6 ? s.netmask : nil)
        w.member("persistence_engine", s.persistenceEngine.flatMap { $0.isEmpty ? nil : $0 })
        w.member("one_packet", flags.contains(.onePacket))
        if withCounters {
            statistics(&w, entry.statistics)
        }
        w.key("destinations")
        w.beginArray()
        var destinations = listing.destinations
        if !noSort {
            IPVSAdmSortOrder.mergeSort(&destinations) { IPVSAdmSortOrder.compareServers($0.server, $1.server) }
        }
        for d in destinations { destination(&w, d, withCounters: withCounters) }
        w.endArray()
        w.endObject()
    }

    static func destination(_ w: inout IPVSJSONWriter, _ d: IPVSDestinationEntry, withCounters: Bool) {
        let r = d.server
        w.beginObject()
        w.member("family", r.address.family.description)
        w.member("address", IPVSAdmAddressText.numeric(r.address))
        w.member("port", r.port)
        w.member("forwarding", forwardingName(r.forwarding))
        w.member("weight", r.weight)
        w.member("upper_threshold", r.upperThreshold)
        w.member("lower_threshold", r.lowerThreshold)
        w.key("tunnel")
        if r.forwarding == .tunnel {
            w.beginObject()
            w.member("type", r.tunnelType.description)
            w.member("port", r.tunnelPort)
            w.member("checksum", tunnelChecksumName(r.tunnelFlags))
            w.endObject()
        } else {
            w.null()
        }
        if withCounters {
            w.member("active_connections", d.activeConnections)
            w.member("inactive_connections", d.inactiveConnections)
            w.member("persistent_connections", d.persistentConnections)
            statistics(&w, d.statistics)
        }
        w.endObject()
    }

    /// `stats` (totals since the service or destination was added or last zeroed) and `rates` (per second, the
    /// kernel's 2-second estimator), as the kernel's 64-bit counters.
    static func statistics(_ w: inout IPVSJSONWriter, _ s: IPVSStatistics) {
        w.key("stats")
        w.beginObject()
        w.member("connections", s.connections)
        w.member("packets_in", s.incomingPackets)
        w.member("packets_out", s.outgoingPackets)
        w.member("bytes_in", s.incomingBytes)
        w.member("bytes_out", s.outgoingBytes)
        w.endObject()
        w.key("rates")
        w.beginObject()
        w.member("connections", s.connectionsPerSecond)
        w.member("packets_in", s.incomingPacketsPerSecond)
        w.member("packets_out", s.outgoingPacketsPerSecond)
        w.member("bytes_in", s.incomingBytesPerSecond)
        w.member("bytes_out", s.outgoingBytesPerSecond)
        w.endObject()
    }

    /// ipvsadm's listing names, lower case: "masq", "local", "tunnel", "route".
    static func forwardingName(_ f: ForwardingMethod) -> String { f.description.lowercased() }

    /// As ipvsadm's `-S` names the checksum option (`--tun-nocsum`, `--tun-csum`, `--tun-remcsum`): "nocsum",
    /// "csum", "remcsum" (both flags set reads as "remcsum", as ipvsadm reads it).
    static func tunnelChecksumName(_ flags: TunnelFlags) -> String {
        ["nocsum", "csum", "remcsum"][Int(min(flags.rawValue, 2))]
    }

    /// ipvsadm `print_sched_flags`, one array element per flag.
    static func schedulerFlagNames(_ scheduler: String, _ flags: ServiceFlags) -> [String] {
        let text = IPVSAdmListing.schedulerFlagNames(scheduler, flags)
        return text.isEmpty ? [] : text.split(separator: ",").map(String.init)
    }

    /// Sorting never asks for names; this keeps the C library's resolver out of JSON.
    struct NoNames: IPVSAdmNameResolver {
        func hostName(_ address: IPAddress) -> String? { nil }
        func serviceName(port: UInt16, ipProtocol: UInt16) -> String? { nil }
    }
}
