/// What a persistence (connection) template is looked up by: the kernel's `ip_vs_conn_param` for a template, as
/// ip_vs_core.c `ip_vs_sched_persist` fills it and ip_vs_conn.c `ip_vs_ct_in_get` matches it.
///
/// - the client address masked by the service's netmask (IPv4) or prefix length (IPv6), client port 0;
/// - for a packet to the service's port: the packet's protocol, destination address and port — port 0 when the
///   service's port is 21 (`FTPPORT`), so that an FTP control connection and its data connections share one template;
/// - otherwise, for a firewall-mark service: `IPPROTO_IP` and the mark in place of the address, port 0;
/// - otherwise (a port-zero service, or a passive FTP data connection to an FTP service): the packet's protocol and
///   destination address, port 0.
///
/// The kernel keeps every template of a network namespace in one table, so these keys can be shared across
/// services (an FTP service and a port-zero service on the same address); see `VirtualServer` for what is modelled.
public struct PersistenceTemplateKey: Hashable, Sendable, CustomStringConvertible {
    /// The template's virtual side: an address, or a firewall mark (the kernel stores `htonl(fwmark)` in the address).
    public enum Virtual: Hashable, Sendable {
        case address(IPAddress)
        case firewallMark(UInt32)
    }

    /// `FTPPORT`.
    public static let ftpPort: UInt16 = 21
    /// The virtual port an invalidated template is rehashed with (ip_vs_conn.c `ip_vs_check_template`).
    public static let invalidatedPort: UInt16 = 0xffff

    /// The service's address family (`svc->af`).
    public var family: AddressFamily
    /// The protocol; `nil` stands for `IPPROTO_IP`, which only firewall-mark templates use.
    public var ipProtocol: IPProtocol?
    /// The client address masked by the service's netmask or prefix (`snet`).
    public var clientNetwork: IPAddress
    /// The client port: always 0 for a template.
    public var clientPort: UInt16
    public var virtual: Virtual
    public var virtualPort: UInt16

    public init(family: AddressFamily, ipProtocol: IPProtocol?, clientNetwork: IPAddress, clientPort: UInt16 = 0,
                virtual: Virtual, virtualPort: UInt16) {
        self.family = family
        self.ipProtocol = ipProtocol
        self.clientNetwork = clientNetwork
        self.clientPort = clientPort
        self.virtual = virtual
        self.virtualPort = virtualPort
    }

    /// The key ip_vs_core.c `ip_vs_sched_persist` builds for `flow` on `service`.
    public init(service: VirtualService, flow: Flow) {
        let servicePort: UInt16
        let mark: UInt32?
        switch service.key {
        case .address(_, _, let port):
            servicePort = port
            mark = nil
        case .firewallMark(let m, _):
            servicePort = 0
            mark = m
        }
        family = service.key.family
        clientNetwork = service.persistenceNetwork(of: flow.sourceAddress)
        clientPort = 0
        if flow.destinationPort == servicePort {
            // <protocol, caddr, 0, vaddr, vport> — or vport 0 for FTP.
            ipProtocol = flow.ipProtocol
            virtual = .address(flow.destinationAddress)
            virtualPort = servicePort == Self.ftpPort ? 0 : flow.destinationPort
        } else if let mark {
            // <IPPROTO_IP, caddr, 0, fwmark, 0>
            ipProtocol = nil
            virtual = .firewallMark(mark)
            virtualPort = 0
        } else {
            // Port-zero service, or FTP data to an FTP service: <protocol, caddr, 0, vaddr, 0>
            ipProtocol = flow.ipProtocol
            virtual = .address(flow.destinationAddress)
            virtualPort = 0
        }
    }

    /// The key `ip_vs_check_template` rehashes an invalidated template under: virtual port 0xffff, client port 0.
    public var invalidated: PersistenceTemplateKey {
        var k = self
        k.virtualPort = Self.invalidatedPort
        k.clientPort = 0
        return k
    }

    public var description: String {
        let p = ipProtocol.map(\.description) ?? "IP"
        let v: String
        switch virtual {
        case .address(.v6(let a)): v = "[\(a)]:\(virtualPort)"
        case .address(let a): v = "\(a):\(virtualPort)"
        case .firewallMark(let m): v = "FWM \(m)"
        }
        let c: String
        if case .v6(let a) = clientNetwork { c = "[\(a)]:\(clientPort)" } else { c = "\(clientNetwork):\(clientPort)" }
        return "\(p) \(c) -> \(v)"
    }
}
