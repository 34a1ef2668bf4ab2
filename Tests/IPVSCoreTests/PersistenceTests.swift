@testable import IPVSCore
import Testing

/// ClientIP persistence (ip_vs_core.c `ip_vs_sched_persist`, ip_vs_conn.c `ip_vs_check_template`,
/// `ip_vs_conn_expire`, `ip_vs_bind_dest`). Most tests use rr, whose picks are easy to follow: on a fresh service
/// the head of the list, then each next destination in list order (ip_vs_rr.c). Servers A (.1), B (.2), C (.3) are
/// added in that order, so the list is [C, B, A] and rr picks C, B, A, C, …
@Suite("Persistence: connection templates")
struct PersistenceTests {
    static let vip = "10.0.0.1"

    func persistent(
        _ scheduler: SchedulerKind = .rr, port: UInt16 = 80, protocol p: IPProtocol = .tcp, timeout: UInt32 = 300,
        netmask: UInt32? = nil, flags: ServiceFlags = []
    ) -> VirtualService {
        VirtualService(.address(p, v4(Self.vip), port: port), scheduler: scheduler, flags: flags.union(.persistent),
                       persistenceTimeout: timeout, netmask: netmask)
    }

    func make(_ service: VirtualService, servers: [RealServer]? = nil,
              settings: PersistenceSettings = PersistenceSettings()) throws -> VirtualServer {
        try VirtualServer(service, servers: servers ?? [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3")],
                          settings: settings)
    }

    func from(_ client: String, _ port: UInt16 = 40000, to vport: UInt16 = 80, vip: String = Self.vip,
              _ p: IPProtocol = .tcp) -> Flow {
        Flow(p, from: IPAddress(client)!, port: port, to: IPAddress(vip)!, port: vport)
    }

    func key(_ address: String, port: UInt16 = 80) -> DestinationKey {
        DestinationKey(address: IPAddress(address)!, port: port)
    }

    /// Opens a connection and returns the chosen server's address.
    func open(_ vs: inout VirtualServer, _ f: Flow, at seconds: UInt64) -> String? {
        vs.newConnection(f, now: .seconds(seconds))?.address.description
    }

    // MARK: - Pinning

    @Test("A live template pins a client to its server; without persistence rr would move it on")
    func templatePins() throws {
        var vs = try make(persistent())
        #expect(open(&vs, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")  // rr: head
        #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == "10.0.1.3")  // template; rr not consulted
        #expect(open(&vs, from("192.168.0.2", 40000), at: 2) == "10.0.1.2")  // rr's second pick
        #expect(open(&vs, from("192.168.0.1", 40002), at: 3) == "10.0.1.3")

        var plain = try make(VirtualService(.address(.tcp, v4(Self.vip), port: 80), scheduler: .rr))
        #expect(open(&plain, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")
        #expect(open(&plain, from("192.168.0.1", 40001), at: 1) == "10.0.1.2")
        #expect(plain.templates.count == 0)
    }

    @Test("Templates are counted in persistentConnections; connections start inactive, become active, unbind")
    func counting() throws {
        var vs = try make(persistent())
        let c1 = from("192.168.0.1", 40000)
        #expect(open(&vs, c1, at: 0) == "10.0.1.3")
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 1)
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 1)
        #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == "10.0.1.3")
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 1)  // one template, two connections
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 2)
        vs.connectionEstablished(c1, now: .seconds(2))
        #expect(vs.destination(key("10.0.1.3"))?.activeConnections == 1)
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 1)
        vs.connectionClosed(c1, now: .seconds(3))
        vs.connectionClosed(from("192.168.0.1", 40001), now: .seconds(3))
        #expect(vs.destination(key("10.0.1.3"))?.activeConnections == 0)
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 0)
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 1)  // until the template expires
        vs.advance(to: .seconds(301))  // last used at 1 s + 300 s
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 0)
        #expect(vs.templates.count == 0)
    }

    // MARK: - Keys

    @Test("Key: <protocol, client & netmask, 0, vaddr, vport> for a packet to the service's port")
    func keyForAddressService() {
        let svc = persistent(netmask: IPv4Address(255, 255, 255, 0).value)
        let k = PersistenceTemplateKey(service: svc, flow: from("192.168.7.77", 41000))
        #expect(k == PersistenceTemplateKey(family: .inet, ipProtocol: .tcp, clientNetwork: v4("192.168.7.0"),
                                            virtual: .address(v4(Self.vip)), virtualPort: 80))
        let udp = PersistenceTemplateKey(service: persistent(protocol: .udp), flow: from("192.168.7.77", 1, .udp))
        #expect(udp.ipProtocol == .udp)
    }

    @Test("Key: FTP (port 21) templates have vport 0, and a passive data connection finds the control's template")
    func keyForFTP() {
        let svc = persistent(port: 21)
        let control = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40000, to: 21))
        let data = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40001, to: 30000))
        #expect(control.virtualPort == 0)
        #expect(control == data)
    }

    @Test("Key: a firewall-mark template is <IPPROTO_IP, client, 0, mark, 0>, whatever the packet's address and port")
    func keyForFirewallMark() {
        let svc = VirtualService(.firewallMark(7, .inet), scheduler: .rr, flags: .persistent, persistenceTimeout: 60)
        let a = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40000, to: 80, vip: "10.0.0.1"))
        let b = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40001, to: 443, vip: "10.0.0.2", .udp))
        #expect(a == b)
        #expect(a == PersistenceTemplateKey(family: .inet, ipProtocol: nil, clientNetwork: v4("192.168.0.1"),
                                            virtual: .firewallMark(7), virtualPort: 0))
        // A packet to port 0 matches "dst_port == svc->port" (0): the address form, with the packet's protocol.
        let zero = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40002, to: 0, vip: "10.0.0.2"))
        #expect(zero == PersistenceTemplateKey(family: .inet, ipProtocol: .tcp, clientNetwork: v4("192.168.0.1"),
                                               virtual: .address(v4("10.0.0.2")), virtualPort: 0))
    }

    @Test("Key: a port-zero service keys with vport 0, so a client sticks across ports")
    func keyForPortZero() {
        let svc = persistent(port: 0)
        let a = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40000, to: 443))
        let b = PersistenceTemplateKey(service: svc, flow: from("192.168.0.1", 40001, to: 22))
        #expect(a == b)
        #expect(a.virtualPort == 0)
        #expect(a.virtual == .address(v4(Self.vip)))
    }

    @Test("IPv4 netmask: clients in one /24 share a template, the next /24 does not")
    func ipv4Netmask() throws {
        var vs = try make(persistent(netmask: IPv4Address(255, 255, 255, 0).value))
        #expect(open(&vs, from("192.168.0.1"), at: 0) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.200"), at: 1) == "10.0.1.3")
        #expect(open(&vs, from("192.168.1.1"), at: 2) == "10.0.1.2")
        #expect(vs.templates.count == 2)
    }

    @Test("IPv6 prefix: clients in one /64 share a template, another /64 does not; /128 separates every client")
    func ipv6Prefix() throws {
        let vip6 = "2001:db8::100"
        let servers = [
            RealServer(IPAddress("2001:db8:f::1")!, port: 80), RealServer(IPAddress("2001:db8:f::2")!, port: 80),
        ]
        let svc = VirtualService(.address(.tcp, IPAddress(vip6)!, port: 80), scheduler: .rr, flags: .persistent,
                                 persistenceTimeout: 300, netmask: 64)
        var vs = try VirtualServer(svc, servers: servers)  // [::2, ::1]
        #expect(open(&vs, from("2001:db8:1::1", vip: vip6), at: 0) == "2001:db8:f::2")
        #expect(open(&vs, from("2001:db8:1::ffff:1", vip: vip6), at: 1) == "2001:db8:f::2")
        #expect(open(&vs, from("2001:db8:2::1", vip: vip6), at: 2) == "2001:db8:f::1")
        #expect(vs.template(for: from("2001:db8:1:0:abcd::9", vip: vip6))?.key.clientNetwork
            == IPAddress("2001:db8:1::"))

        var full = try VirtualServer(VirtualService(.address(.tcp, IPAddress(vip6)!, port: 80), scheduler: .rr,
                                                    flags: .persistent, persistenceTimeout: 300), servers: servers)
        #expect(open(&full, from("2001:db8:1::1", vip: vip6), at: 0) == "2001:db8:f::2")
        #expect(open(&full, from("2001:db8:1::2", vip: vip6), at: 1) == "2001:db8:f::1")
    }

    @Test("Firewall-mark service: one template per client for every address, port and protocol the mark covers")
    func firewallMarkService() throws {
        let svc = VirtualService(.firewallMark(7, .inet), scheduler: .rr, flags: .persistent, persistenceTimeout: 300)
        var vs = try make(svc)
        #expect(open(&vs, from("192.168.0.1", 40000, to: 80, vip: "10.0.0.1"), at: 0) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.1", 40001, to: 443, vip: "10.0.0.2", .udp), at: 1) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.2", 40000, to: 80, vip: "10.0.0.1"), at: 2) == "10.0.1.2")
        #expect(vs.templates.count == 2)
    }

    @Test("Port-zero service: a client keeps its server across ports")
    func portZeroService() throws {
        var vs = try make(persistent(port: 0))
        #expect(open(&vs, from("192.168.0.1", 40000, to: 443), at: 0) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.1", 40001, to: 22), at: 1) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.2", 40000, to: 22), at: 2) == "10.0.1.2")
    }

    @Test("FTP: the passive data connection follows the control connection's template")
    func ftpDataFollowsControl() throws {
        var vs = try make(persistent(port: 21), servers: [server("10.0.1.1", port: 21), server("10.0.1.2", port: 21)])
        #expect(open(&vs, from("192.168.0.1", 40000, to: 21), at: 0) == "10.0.1.2")
        #expect(open(&vs, from("192.168.0.1", 40001, to: 30000), at: 1) == "10.0.1.2")
        #expect(open(&vs, from("192.168.0.2", 40000, to: 21), at: 2) == "10.0.1.1")
    }

    // MARK: - Timeouts

    @Test("A template expires its timeout after its last use; each connection through it restarts the timer")
    func timeoutRefreshed() throws {
        var vs = try make(persistent(timeout: 300))
        let c = from("192.168.0.1", 40000)
        #expect(open(&vs, c, at: 0) == "10.0.1.3")  // expires 300
        vs.connectionClosed(c, now: .seconds(10))
        #expect(open(&vs, from("192.168.0.1", 40001), at: 200) == "10.0.1.3")  // refreshed: expires 500
        vs.connectionClosed(from("192.168.0.1", 40001), now: .seconds(210))
        #expect(vs.template(for: c)?.expires == .seconds(500))
        var before = vs
        #expect(open(&before, from("192.168.0.1", 40002), at: 499) == "10.0.1.3")
        var after = vs
        // At 500 the timer fires first; the client is scheduled afresh: rr's next after C is B.
        #expect(open(&after, from("192.168.0.1", 40002), at: 500) == "10.0.1.2")
        #expect(after.destination(key("10.0.1.3"))?.persistentConnections == 0)
        #expect(after.destination(key("10.0.1.2"))?.persistentConnections == 1)
    }

    @Test("A template outlives its timeout while it controls connections, then in 60 s steps with a 60 s timeout")
    func keptAliveByControlledConnections() throws {
        var vs = try make(persistent(timeout: 300))
        let c = from("192.168.0.1", 40000)
        #expect(open(&vs, c, at: 0) == "10.0.1.3")
        vs.advance(to: .seconds(300))  // fires at 300 with one controlled connection: expire_later
        #expect(vs.template(for: c)?.expires == .seconds(360))
        #expect(vs.template(for: c)?.timeoutSeconds == 60)
        // A new connection through it restarts its timer with ct->timeout, now 60 s: 310 + 60.
        #expect(open(&vs, from("192.168.0.1", 40001), at: 310) == "10.0.1.3")
        #expect(vs.template(for: c)?.expires == .seconds(370))
        vs.connectionClosed(from("192.168.0.1", 40001), now: .seconds(320))
        vs.advance(to: .seconds(400))  // 370: still controls c → 430
        #expect(vs.template(for: c)?.expires == .seconds(430))
        vs.connectionClosed(c, now: .seconds(1000))  // fired at 430, 490, …, 970 with c open → 1030
        #expect(vs.template(for: c)?.expires == .seconds(1030))
        var before = vs
        before.advance(to: .seconds(1029))
        #expect(before.template(for: c) != nil)
        vs.advance(to: .seconds(1030))
        #expect(vs.template(for: c) == nil)
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 0)
    }

    @Test("Kubernetes ClientIP affinity: persistent with timeoutSeconds, 10800 by default, up to 86400")
    func kubernetesClientIP() throws {
        let key = ServiceKey.address(.tcp, v4(Self.vip), port: 80)
        var vs = try make(.clientIPAffinity(key))
        let c = from("192.168.0.1")
        #expect(open(&vs, c, at: 0) == "10.0.1.3")
        vs.connectionClosed(c, now: .seconds(1))
        #expect(vs.template(for: c)?.timeoutSeconds == 10800)
        vs.advance(to: .seconds(10799))
        #expect(vs.template(for: c) != nil)
        vs.advance(to: .seconds(10800))
        #expect(vs.template(for: c) == nil)

        var day = try make(.clientIPAffinity(key, timeoutSeconds: 86400))
        #expect(open(&day, c, at: 0) == "10.0.1.3")
        #expect(day.template(for: c)?.expires == .seconds(86400))
    }

    // MARK: - ip_vs_check_template

    @Test("A deleted server's template is invalidated and the client rescheduled; the old one counts until it goes")
    func removedDestination() throws {
        var vs = try make(persistent())
        let c1 = from("192.168.0.1", 40000)
        #expect(open(&vs, c1, at: 0) == "10.0.1.3")
        try vs.removeDestination(key("10.0.1.3"))  // rr's cursor moves back to the head
        #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == "10.0.1.2")
        #expect(vs.template(for: c1)?.destination == key("10.0.1.2"))
        #expect(vs.templates.count == 2)
        let old = vs.templates.all.first { $0.destination == key("10.0.1.3") }
        #expect(old?.isInvalidated == true)
        #expect(old?.key.virtualPort == 0xffff)
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 1)  // in the trash, still counted
        vs.connectionClosed(c1, now: .seconds(2))
        vs.advance(to: .seconds(300))  // the old template's timer, untouched by the invalidation
        #expect(vs.destination(key("10.0.1.3"))?.persistentConnections == 0)
        #expect(vs.templates.count == 1)
    }

    @Test("A deleted server re-added before its client returns keeps that client")
    func reAddedDestination() throws {
        var vs = try make(persistent())
        #expect(open(&vs, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")
        try vs.removeDestination(key("10.0.1.3"))
        try vs.addDestination(server("10.0.1.3"))
        #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == "10.0.1.3")
        #expect(vs.templates.count == 1)
    }

    @Test("A quiesced server keeps its persistent clients unless expire_quiescent_template is set")
    func quiescedDestination() throws {
        for expire in [false, true] {
            var vs = try make(persistent(), settings: PersistenceSettings(expireQuiescentTemplate: expire))
            #expect(open(&vs, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")
            try vs.editDestination(server("10.0.1.3", weight: 0))
            // With the sysctl: invalidated, rr goes on from C to B.
            #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == (expire ? "10.0.1.2" : "10.0.1.3"))
            #expect(open(&vs, from("192.168.0.2", 40000), at: 2) == (expire ? "10.0.1.1" : "10.0.1.2"))
        }
    }

    @Test("An overloaded server keeps its persistent clients; new clients go elsewhere")
    func overloadedDestination() throws {
        var vs = try make(persistent(), servers: [server("10.0.1.1"), server("10.0.1.2"), server("10.0.1.3", upper: 1)])
        #expect(open(&vs, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")
        #expect(vs.destination(key("10.0.1.3"))?.overloaded == true)  // 1 connection ≥ upper threshold 1
        #expect(open(&vs, from("192.168.0.1", 40001), at: 1) == "10.0.1.3")
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 2)
        #expect(open(&vs, from("192.168.0.2", 40000), at: 2) == "10.0.1.2")
    }

    @Test("Port 65535: invalidated templates keep their 0xffff port, so a later lookup can find one again")
    func invalidatedPortQuirk() throws {
        func run(port: UInt16) throws -> String? {
            var vs = try make(persistent(port: port), servers: [
                server("10.0.1.1", port: port), server("10.0.1.2", port: port), server("10.0.1.3", port: port),
            ])
            #expect(open(&vs, from("192.168.0.1", 40000, to: port), at: 0) == "10.0.1.3")  // T1 → C, kept open
            try vs.removeDestination(key("10.0.1.3", port: port))
            // T1 found, C unavailable: invalidated. rr (cursor back at the head of [B, A]) → B: T2, at the chain head.
            #expect(open(&vs, from("192.168.0.1", 40001, to: port), at: 2) == "10.0.1.2")
            vs.connectionClosed(from("192.168.0.1", 40001, to: port), now: .seconds(3))
            try vs.addDestination(server("10.0.1.3", port: port))  // [C, B, A]; rr's cursor stays on B
            // Both templates are under the 0xffff key on port 65535; the lookup takes the one hashed last, T2.
            #expect(open(&vs, from("192.168.0.1", 40002, to: port), at: 10) == "10.0.1.2")
            vs.connectionClosed(from("192.168.0.1", 40002, to: port), now: .seconds(11))
            // At 311: T2 expired at 310. T1 lives on (it controls the first connection).
            return open(&vs, from("192.168.0.1", 40003, to: port), at: 311)
        }
        // Port 65535: T1 was never rehashed (its port already was 0xffff) and is found: C is back, so it holds.
        #expect(try run(port: 65535) == "10.0.1.3")
        // Port 80: T1 moved to the 0xffff key; nothing under port 80: rr goes on from B to A.
        #expect(try run(port: 80) == "10.0.1.1")
    }

    // MARK: - ip_vs_schedule around persistence

    @Test("Connections from source port 20 (FTPDATA) are never scheduled")
    func ftpDataSourcePort() throws {
        var vs = try make(persistent())
        #expect(vs.newConnection(from("192.168.0.1", 20), now: .zero) == nil)
        var plain = try make(VirtualService(.address(.tcp, v4(Self.vip), port: 80), scheduler: .rr))
        #expect(plain.newConnection(from("192.168.0.1", 20), now: .zero) == nil)
        #expect(plain.newConnection(from("192.168.0.1", 21), now: .zero) != nil)
    }

    @Test("A non-persistent address service schedules only packets to its own port")
    func nonPersistentPortCheck() throws {
        var plain = try make(VirtualService(.address(.tcp, v4(Self.vip), port: 80), scheduler: .rr))
        #expect(plain.newConnection(from("192.168.0.1", 40000, to: 81), now: .zero) == nil)
        let fwm = VirtualService(.firewallMark(3, .inet), scheduler: .rr)
        var marked = try make(fwm)
        #expect(marked.newConnection(from("192.168.0.1", 40000, to: 81), now: .zero) != nil)
    }

    @Test("One-packet UDP: the connection is bound and released at once (which can leave the overload flag set)")
    func onePacket() throws {
        let svc = persistent(protocol: .udp, flags: .onePacket)
        var vs = try make(svc, servers: [server("10.0.1.1"), server("10.0.1.2", upper: 5, lower: 2)])  // [B, A]
        vs.setCounters(of: key("10.0.1.2"), active: 0, inactive: 4)
        // Bind: 5 ≥ upper 5 → overloaded; unbind: 4 < lower 2? no → stays overloaded.
        #expect(open(&vs, from("192.168.0.1", 40000, to: 80, .udp), at: 0) == "10.0.1.2")
        #expect(vs.destination(key("10.0.1.2"))?.inactiveConnections == 4)
        #expect(vs.destination(key("10.0.1.2"))?.overloaded == true)
        #expect(vs.destination(key("10.0.1.2"))?.persistentConnections == 1)  // the template stays
        #expect(vs.connections.isEmpty)
        #expect(open(&vs, from("192.168.0.1", 40001, to: 80, .udp), at: 1) == "10.0.1.2")  // template, overload or not
    }

    @Test("A flow that already has a connection is not scheduled again")
    func existingConnection() throws {
        var vs = try make(VirtualService(.address(.tcp, v4(Self.vip), port: 80), scheduler: .rr))
        #expect(open(&vs, from("192.168.0.1", 40000), at: 0) == "10.0.1.3")
        #expect(open(&vs, from("192.168.0.1", 40000), at: 1) == "10.0.1.3")
        #expect(vs.destination(key("10.0.1.3"))?.inactiveConnections == 1)
        #expect(open(&vs, from("192.168.0.1", 40001), at: 2) == "10.0.1.2")
    }

    @Test("Persistence over lblc: the cache follows the packet's address, the template the client")
    func persistenceOverLblc() throws {
        var vs = try make(persistent(.lblc))
        #expect(open(&vs, from("192.168.0.1"), at: 0) == "10.0.1.3")  // lblc: all idle → head, cached for the VIP
        try vs.editDestination(server("10.0.1.3", weight: 0))
        #expect(open(&vs, from("192.168.0.2"), at: 1) == "10.0.1.2")  // cache entry invalid → wlc pick
        #expect(open(&vs, from("192.168.0.1", 40001), at: 2) == "10.0.1.3")  // quiesced but persistent
    }
}
