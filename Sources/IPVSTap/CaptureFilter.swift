import CPcap
import IPVSCore

/// A BPF filter for the traffic of watched services, written in libpcap's filter language and compiled by
/// `pcap_compile` (pcap-filter(7)).
///
/// Per service: its VIP, protocol and port (both directions, so replies too; a port-zero service: any port). Per
/// real server: NAT ones by address, protocol and port (the rewritten copies and the servers' replies); direct
/// routing adds nothing (the copies keep the client → VIP header); tunnels by the outer packet to the server
/// (IP protocol 4 or 41 for IP-in-IP, 47 for GRE, the UDP tunnel port for GUE). Firewall-mark services match their
/// real servers' addresses only (the mark is not on the wire). libpcap's `tcp`/`udp`/`sctp`/`port` look at the IPv6
/// fixed header's next-header field only: IPv6 packets with extension headers before the transport header do not
/// match (pcap-filter(7), "ip6 proto").
public enum CaptureFilter {
    /// The expression for `services`; with `vlan`, the same again behind one 802.1Q tag (`E or (vlan and (E))`: the
    /// `vlan` keyword moves the offsets of everything after it; Ethernet captures only: libpcap 1.10 refuses `vlan`
    /// on cooked and raw captures). Empty when there is nothing to watch.
    public static func expression(for services: [WatchedService], vlan: Bool = false) -> String {
        var clauses: [String] = []
        func add(_ c: String) { if !clauses.contains(c) { clauses.append(c) } }
        for watched in services {
            let name: String
            switch watched.service.key {
            case .address(let p, let vip, let port):
                name = protocolName(p)
                add(port == 0 ? "(\(name) and host \(vip))" : "(\(name) and host \(vip) and port \(port))")
            case .firewallMark:
                name = ""
            }
            for rs in watched.realServers {
                let ipKeyword = rs.address.family == .inet ? "ip" : "ip6"
                switch rs.forwarding {
                case .masquerade:
                    if name.isEmpty {
                        add("(host \(rs.address))")
                    } else {
                        add(rs.port == 0 ? "(\(name) and host \(rs.address))"
                                         : "(\(name) and host \(rs.address) and port \(rs.port))")
                    }
                case .tunnel:
                    switch rs.tunnelType {
                    case .ipip:
                        add("(host \(rs.address) and (\(ipKeyword) proto 4 or \(ipKeyword) proto 41))")
                    case .gre: add("(host \(rs.address) and \(ipKeyword) proto 47)")
                    case .gue: add("(udp and host \(rs.address) and port \(rs.tunnelPort))")
                    }
                case .route, .local:
                    if name.isEmpty { add("(host \(rs.address))") }
                }
            }
        }
        let e = clauses.joined(separator: " or ")
        guard vlan, !e.isEmpty else { return e }
        return "\(e) or (vlan and (\(e)))"
    }

    static func protocolName(_ p: IPProtocol) -> String {
        switch p {
        case .tcp: return "tcp"
        case .udp: return "udp"
        case .sctp: return "sctp"
        }
    }

    /// Compiles `expression` for captures of `linkType` (on a `pcap_open_dead` handle): the check that libpcap
    /// accepts it, without a capture. A refused expression throws libpcap's words.
    public static func compile(_ expression: String, linkType: LinkType,
                               snapLength: Int32 = 262_144) throws(PcapError) -> CompiledFilter {
        guard let dead = CPcap_pcap_open_dead(linkType.rawValue, snapLength) else {
            let why = CPcap_load_error().map { String(cString: $0) } ?? "pcap_open_dead failed"
            throw PcapError(operation: "open a \(linkType) handle to compile a filter", message: why)
        }
        defer { CPcap_pcap_close(dead) }
        var program = bpf_program()
        guard CPcap_pcap_compile(dead, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw PcapError(operation: "compile filter \"\(expression)\" for \(linkType)",
                            message: String(cString: CPcap_pcap_geterr(dead)))
        }
        return CompiledFilter(program: program, snapLength: snapLength)
    }
}

/// A compiled BPF program (`struct bpf_program`), freed with it.
public struct CompiledFilter: ~Copyable {
    var program: bpf_program
    let snapLength: Int32

    init(program: bpf_program, snapLength: Int32) {
        self.program = program
        self.snapLength = snapLength
    }

    deinit {
        var p = program
        CPcap_pcap_freecode(&p)
    }

    /// BPF instructions in the program.
    public var instructionCount: Int { Int(program.bf_len) }

    /// Whether the program accepts `frame` (`pcap_offline_filter`, libpcap's BPF interpreter).
    public func matches(_ frame: UnsafeRawBufferPointer) -> Bool {
        var header = pcap_pkthdr()
        header.caplen = UInt32(min(frame.count, Int(snapLength)))
        header.len = UInt32(frame.count)
        var p = program
        guard let base = frame.baseAddress else { return false }
        return CPcap_pcap_offline_filter(&p, &header, base.assumingMemoryBound(to: UInt8.self)) != 0
    }
}
