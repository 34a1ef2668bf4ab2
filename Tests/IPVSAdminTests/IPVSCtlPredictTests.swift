import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// `ipvsctl predict` over table values: what decides (connection, template, scheduler), and where the live table
/// cannot tell (hidden scheduler state, overload flags between the thresholds).
@Suite("ipvsctl predict")
struct IPVSCtlPredictTests {
    static let vip = IPAddress("10.0.0.1")!

    func service(_ kind: SchedulerKind, persistent: Bool = false, flags: ServiceFlags = [],
                 netmask: UInt32? = nil) -> VirtualService {
        VirtualService(.address(.tcp, Self.vip, port: 80), scheduler: kind,
                       flags: persistent ? flags.union(.persistent) : flags, persistenceTimeout: persistent ? 300 : 0,
                       netmask: netmask)
    }

    func dest(_ a: String, weight: Int32 = 1, active: UInt32 = 0, inactive: UInt32 = 0, upper: UInt32 = 0,
              lower: UInt32 = 0) -> IPVSDestinationEntry {
        IPVSDestinationEntry(
            server: RealServer(IPAddress(a)!, port: 80, forwarding: .masquerade, weight: weight,
                               upperThreshold: upper, lowerThreshold: lower),
            activeConnections: active, inactiveConnections: inactive)
    }

    func connection(_ client: String, _ port: UInt16, to d: String, state: String = "ESTABLISHED",
                    protocolName: String = "TCP", virtual: String = "10.0.0.1", vport: UInt16 = 80)
        -> IPVSConnectionEntry {
        IPVSConnectionEntry(protocolName: protocolName, client: IPAddress(client)!, clientPort: port,
                            virtualAddress: IPAddress(virtual)!, virtualPort: vport, destination: IPAddress(d)!,
                            destinationPort: 80, state: state, expiresInSeconds: 100)
    }

    func predict(_ svc: VirtualService, _ list: [IPVSDestinationEntry], _ conns: [IPVSConnectionEntry] = [],
                 client: String = "192.168.0.7", port: UInt16? = 40000,
                 sysctls: IPVSPredictionSysctls = IPVSPredictionSysctls()) -> IPVSPrediction {
        IPVSPredictor.predict(IPVSPredictionQuery(
            service: svc, destinations: list, connections: conns, client: IPAddress(client)!, clientPort: port,
            sysctls: sysctls))
    }

    func key(_ a: String) -> DestinationKey { DestinationKey(address: IPAddress(a)!, port: 80) }

    @Test("wlc is decided by the counters: the least overhead per weight, exit status 0")
    func wlcFromCounters() {
        let list = [dest("10.0.1.2", active: 1), dest("10.0.1.1", inactive: 256)]  // 257 vs 256
        let p = predict(service(.wlc), list)
        #expect(p.verdict == .destination(key("10.0.1.1")))
        #expect(p.basis == .scheduler)
        #expect(p.exitStatus == 0)
        let tie = predict(service(.wlc), [dest("10.0.1.2", active: 1), dest("10.0.1.1", inactive: 257)])
        #expect(tie.verdict == .destination(key("10.0.1.2")))
    }

    @Test("An existing connection of the same tuple wins over the scheduler")
    func existingConnectionWins() {
        let list = [dest("10.0.1.2", active: 9), dest("10.0.1.1")]
        let conns = [connection("192.168.0.7", 40000, to: "10.0.1.2")]
        let p = predict(service(.wlc), list, conns)
        #expect(p.verdict == .destination(key("10.0.1.2")))
        #expect(p.basis == .connection)
        // Another port of the same client is scheduled.
        #expect(predict(service(.wlc), list, conns, port: 40001).verdict == .destination(key("10.0.1.1")))
    }

    @Test("A SYN on a TIME_WAIT connection is scheduled afresh (conn_reuse_mode 1), not with reuse mode 0")
    func timeWaitIsRescheduled() {
        let list = [dest("10.0.1.2", active: 9), dest("10.0.1.1")]
        let conns = [connection("192.168.0.7", 40000, to: "10.0.1.2", state: "TIME_WAIT")]
        let p = predict(service(.wlc), list, conns)
        #expect(p.verdict == .destination(key("10.0.1.1")))
        #expect(p.basis == .scheduler)
        let off = predict(service(.wlc), list, conns, sysctls: IPVSPredictionSysctls(connectionReuseMode: 0))
        #expect(off.verdict == .destination(key("10.0.1.2")))
    }

    @Test("A persistence template for the masked client wins; one for a deleted server does not")
    func templateWins() {
        let svc = service(.wlc, persistent: true, netmask: 0xffff_ff00)
        let list = [dest("10.0.1.2", active: 9), dest("10.0.1.1")]
        let template = connection("192.168.0.0", 0, to: "10.0.1.2", state: "NONE")
        let p = predict(svc, list, [template], client: "192.168.0.77")
        #expect(p.verdict == .destination(key("10.0.1.2")))
        #expect(p.basis == .template)
        // Another /24: no template, wlc decides.
        #expect(predict(svc, list, [template], client: "192.168.1.77").verdict == .destination(key("10.0.1.1")))
        // The template's server is gone: invalidated, wlc decides.
        let gone = connection("192.168.0.0", 0, to: "10.0.1.9", state: "NONE")
        #expect(predict(svc, list, [gone], client: "192.168.0.77").verdict == .destination(key("10.0.1.1")))
        // Quiesced: holds by default, not with expire_quiescent_template.
        let quiesced = [dest("10.0.1.2", weight: 0, active: 9), dest("10.0.1.1")]
        #expect(predict(svc, quiesced, [template], client: "192.168.0.77").verdict == .destination(key("10.0.1.2")))
        #expect(predict(svc, quiesced, [template], client: "192.168.0.77",
                        sysctls: IPVSPredictionSysctls(expireQuiescentTemplate: true)).verdict
                == .destination(key("10.0.1.1")))
    }

    @Test("A SIP persistence engine's templates depend on the payload: cannot be known")
    func sipEngine() {
        var svc = VirtualService(.address(.udp, Self.vip, port: 5060), scheduler: .wlc, flags: .persistent,
                                 persistenceTimeout: 60, persistenceEngine: "sip")
        svc.netmask = UInt32.max
        let p = predict(svc, [dest("10.0.1.2"), dest("10.0.1.1")])
        #expect(p.verdict == .unknown)
        #expect(p.candidates == [key("10.0.1.2"), key("10.0.1.1")])
    }

    @Test("rr with several servers available: hidden state, exit 3, every available server a candidate")
    func roundRobinIsHidden() {
        let list = [dest("10.0.1.3"), dest("10.0.1.2", weight: 0), dest("10.0.1.1")]
        let p = predict(service(.rr), list)
        #expect(p.verdict == .unknown)
        #expect(p.exitStatus == IPVSPredictor.exitUnknown)
        #expect(p.candidates == [key("10.0.1.3"), key("10.0.1.1")])
        #expect(p.reasons.contains { $0.contains("rr's position") })
        // Only one server can be chosen: known whatever the position.
        let one = predict(service(.rr), [dest("10.0.1.3", weight: 0), dest("10.0.1.1")])
        #expect(one.verdict == .destination(key("10.0.1.1")))
    }

    @Test("No available server: the kernel schedules none, exit 4")
    func nothingAvailable() {
        let p = predict(service(.wlc), [dest("10.0.1.1", weight: 0)])
        #expect(p.verdict == .none)
        #expect(p.exitStatus == IPVSPredictor.exitNoDestination)
        #expect(predict(service(.wlc), [dest("10.0.1.1")], port: 20).verdict == .none)
    }

    @Test("Overload flags: known at or above the upper threshold, open between the thresholds")
    func overloadFlags() {
        // 10.0.1.1 is better by counters but has reached its upper threshold: overloaded for sure.
        let full = [dest("10.0.1.2", inactive: 6), dest("10.0.1.1", inactive: 5, upper: 5)]
        #expect(predict(service(.wlc), full).verdict == .destination(key("10.0.1.2")))
        // Between l_threshold_val (4 - 1 = 3) and 4: its flag depends on history; the answer depends on it.
        let open = [dest("10.0.1.2", inactive: 6), dest("10.0.1.1", inactive: 3, upper: 4)]
        let p = predict(service(.wlc), open)
        #expect(p.verdict == .unknown)
        #expect(Set(p.candidates) == [key("10.0.1.2"), key("10.0.1.1")])
        // Below it: not overloaded.
        let low = [dest("10.0.1.2", inactive: 6), dest("10.0.1.1", inactive: 2, upper: 4)]
        #expect(predict(service(.wlc), low).verdict == .destination(key("10.0.1.1")))
    }

    @Test("sh with sh-port needs the client port; sh without it does not")
    func sourceHashPort() {
        let list = [dest("10.0.1.3"), dest("10.0.1.2"), dest("10.0.1.1")]
        #expect(predict(service(.sh, flags: .shPort), list, port: nil).verdict == .unknown)
        if case .destination = predict(service(.sh), list, port: nil).verdict {} else {
            Issue.record("sh without sh-port should be predicted without a port")
        }
    }

    @Test("mh with a quiesced server: its last weight is hidden")
    func maglevLastWeight() {
        let p = predict(service(.mh), [dest("10.0.1.2", weight: 0), dest("10.0.1.1"), dest("10.0.1.3")])
        #expect(p.verdict == .unknown)
        #expect(!p.candidates.contains(key("10.0.1.2")))
    }

    @Test("The command line: service, client, firewall mark with --to, usage errors with status 2")
    func commandLine() throws {
        let c = try IPVSCtlPredictCommand.parse(["-t", "10.0.0.1:80", "--client", "192.168.0.7:40000", "--json"])
        #expect(c.service == .address(.tcp, Self.vip, port: 80))
        #expect(c.clients == [IPVSCtlPredictCommand.Client(address: IPAddress("192.168.0.7")!, port: 40000)])
        #expect(c.json)
        let v6 = try IPVSCtlPredictCommand.parse(["-u", "[2001:db8::1]:53", "--client", "[2001:db8:1::5]:9999"])
        #expect(v6.clients.map(\.port) == [9999])
        let f = try IPVSCtlPredictCommand.parse(["-f", "7", "--to", "10.9.9.9:443", "--protocol", "udp",
                                                 "--client", "192.168.0.7"])
        #expect(f.service == .firewallMark(7, .inet))
        #expect(f.packetPort == 443)
        #expect(f.ipProtocol == .udp)
        #expect(f.clients.map(\.port) == [nil])
        let many = try IPVSCtlPredictCommand.parse(["-t", "10.0.0.1:80", "--client", "1.2.3.4:5", "--client", "1.2.3.5"])
        #expect(many.clients.map(\.address.description) == ["1.2.3.4", "1.2.3.5"])
        for bad in [["-t", "10.0.0.1:80"], ["--client", "1.2.3.4"], ["-f", "7", "--client", "1.2.3.4"],
                    ["-t", "10.0.0.1:80", "--client", "2001:db8::1"], ["-t", "10.0.0.1:80", "--bogus"]] {
            #expect(throws: IPVSAdmExit.self) { try IPVSCtlPredictCommand.parse(bad) }
            do { _ = try IPVSCtlPredictCommand.parse(bad) } catch { #expect(error.status == 2) }
        }
    }

    @Test("The JSON answer names the verdict, the destination and the candidates")
    func json() {
        let q = IPVSPredictionQuery(service: service(.rr), destinations: [dest("10.0.1.2"), dest("10.0.1.1")],
                                    connections: [], client: IPAddress("192.168.0.7")!, clientPort: 5)
        let text = IPVSCtlPredictCommand.json(IPVSPredictor.predict(q), q)
        #expect(text.contains("\"verdict\":\"unknown\""))
        #expect(text.contains("\"destination\":null"))
        #expect(text.contains("\"candidates\":[\"10.0.1.2:80\",\"10.0.1.1:80\"]"))
    }
}
