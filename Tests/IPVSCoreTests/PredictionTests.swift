@testable import IPVSCore
import Testing

/// `VirtualServer.predict` and `VirtualServer.newConnection`: what the kernel chooses for a new connection
/// (ip_vs_core.c `ip_vs_schedule`), given the service, its destinations in list order with their counters, and the
/// client. Lists are given head first, as `ipvsadm -Ln` prints them.
@Suite("Prediction: the destination the kernel chooses")
struct PredictionTests {
    static let vip = v4("10.0.0.1")

    func service(_ kind: SchedulerKind, persistent: Bool = false, flags: ServiceFlags = []) -> VirtualService {
        VirtualService(.address(.tcp, Self.vip, port: 80), scheduler: kind,
                       flags: persistent ? flags.union(.persistent) : flags, persistenceTimeout: persistent ? 300 : 0)
    }

    func state(_ address: String, weight: Int32 = 1, active: Int32 = 0, inactive: Int32 = 0,
               overloaded: Bool = false) -> DestinationState {
        DestinationState(server(address, weight: weight), activeConnections: active, inactiveConnections: inactive,
                         overloaded: overloaded)
    }

    func predict(_ svc: VirtualService, _ list: [DestinationState], client: String = "192.168.0.1",
                 port: UInt16 = 40000, template: String? = nil,
                 settings: PersistenceSettings = PersistenceSettings()) throws -> String? {
        try VirtualServer.predict(
            service: svc, destinations: list, client: v4(client), clientPort: port,
            existingTemplate: template.map { DestinationKey(address: v4($0), port: 80) }, settings: settings
        )?.address.description
    }

    @Test("wlc, lblc, lblcr on a fresh service: the lowest ((active << 8) + total) / weight, head first on a tie")
    func leastConnection() throws {
        // 1 active: (1 << 8) + 1 = 257 (6.1.192's ip_vs_dest_conn_overhead counts it in totalconns too).
        let list = [state("10.0.1.2", active: 1), state("10.0.1.1", inactive: 256)]  // 257 vs 256
        for kind in [SchedulerKind.wlc, .lblc, .lblcr] {
            #expect(try predict(service(kind), list) == "10.0.1.1", "\(kind)")
        }
        let tie = [state("10.0.1.2", active: 1), state("10.0.1.1", inactive: 257)]
        for kind in [SchedulerKind.wlc, .lblc, .lblcr] {
            #expect(try predict(service(kind), tie) == "10.0.1.2", "\(kind)")
        }
    }

    @Test("rr on a fresh service: the head, unless it is quiesced or overloaded")
    func roundRobin() throws {
        let list = [state("10.0.1.3"), state("10.0.1.2"), state("10.0.1.1")]
        #expect(try predict(service(.rr), list) == "10.0.1.3")
        #expect(try predict(service(.rr), [state("10.0.1.3", weight: 0)] + list.dropFirst()) == "10.0.1.2")
        #expect(try predict(service(.rr), [state("10.0.1.3", overloaded: true)] + list.dropFirst()) == "10.0.1.2")
    }

    @Test("Persistent: a live template holds unless its server is gone (or quiesced, with the sysctl)")
    func existingTemplate() throws {
        let svc = service(.wlc, persistent: true)
        let list = [state("10.0.1.2", active: 5), state("10.0.1.1")]  // wlc alone would pick .1
        #expect(try predict(svc, list) == "10.0.1.1")
        #expect(try predict(svc, list, template: "10.0.1.2") == "10.0.1.2")
        #expect(try predict(svc, list, template: "10.0.1.9") == "10.0.1.1")  // not in the list
        let overloaded = [state("10.0.1.2", active: 5, overloaded: true), state("10.0.1.1")]
        #expect(try predict(svc, overloaded, template: "10.0.1.2") == "10.0.1.2")
        let quiesced = [state("10.0.1.2", weight: 0, active: 5), state("10.0.1.1")]
        #expect(try predict(svc, quiesced, template: "10.0.1.2") == "10.0.1.2")
        #expect(try predict(svc, quiesced, template: "10.0.1.2",
                            settings: PersistenceSettings(expireQuiescentTemplate: true)) == "10.0.1.1")
    }

    @Test("Nothing is scheduled from source port 20, to another port of a non-persistent service, or with no server")
    func nothingScheduled() throws {
        let list = [state("10.0.1.1")]
        #expect(try predict(service(.wlc), list, port: 20) == nil)
        #expect(try VirtualServer.predict(service: service(.wlc), destinations: list, client: v4("192.168.0.1"),
                                          clientPort: 40000, virtualPort: 81) == nil)
        #expect(try predict(service(.wlc), []) == nil)
        #expect(try predict(service(.wlc), [state("10.0.1.1", weight: 0)]) == nil)
    }

    @Test("Firewall-mark services take the packet's address, port and protocol")
    func firewallMark() throws {
        let svc = VirtualService(.firewallMark(9, .inet), scheduler: .wlc)
        let list = [state("10.0.1.2", active: 1), state("10.0.1.1")]
        let got = try VirtualServer.predict(service: svc, destinations: list, client: v4("192.168.0.1"),
                                            clientPort: 40000, virtualAddress: v4("10.9.9.9"), virtualPort: 5353,
                                            ipProtocol: .udp)
        #expect(got == DestinationKey(address: v4("10.0.1.1"), port: 80))
    }

    @Test("An invalid configuration is refused, as ipvsadm or the kernel would")
    func invalidConfiguration() {
        #expect(throws: IPVSConfigurationError.self) {
            try VirtualServer.predict(service: service(.wlc), destinations: [state("10.0.1.1", weight: 70000)],
                                      client: v4("192.168.0.1"), clientPort: 1)
        }
    }

    @Test("A connection sequence: each new connection is bound inactive, so wlc spreads the next ones")
    func sequenceBindsCounters() throws {
        var vs = try VirtualServer(service(.wlc), kernelOrder: [state("10.0.1.2"), state("10.0.1.1")])
        var picks: [String] = []
        for p in UInt16(1)...5 {
            let f = Flow(.tcp, from: v4("192.168.0.1"), port: 40000 + p, to: Self.vip, port: 80)
            picks.append(vs.newConnection(f, now: .seconds(UInt64(p)))?.address.description ?? "-")
        }
        // 0/0 tie → .2; 1/0 → .1; 1/1 tie → .2; 2/1 → .1; 2/2 → .2 (inactive counts 1 each).
        #expect(picks == ["10.0.1.2", "10.0.1.1", "10.0.1.2", "10.0.1.1", "10.0.1.2"])
        #expect(vs.destinations[0].inactiveConnections == 3)
        #expect(vs.destinations[1].inactiveConnections == 2)
    }

    @Test("An upper threshold reached by binding sets the overload flag, as ip_vs_bind_dest does")
    func bindSetsOverload() throws {
        let list = [DestinationState(server("10.0.1.2", upper: 2)), DestinationState(server("10.0.1.1", weight: 1))]
        var vs = try VirtualServer(service(.rr), kernelOrder: list)
        let picks = (UInt16(1)...5).map { p in
            vs.newConnection(Flow(.tcp, from: v4("192.168.0.1"), port: 40000 + p, to: Self.vip, port: 80),
                             now: .seconds(UInt64(p)))?.address.description ?? "-"
        }
        // rr: .2, .1, .2 (2 ≥ 2: overloaded), .1, then .2 is skipped: .1.
        #expect(picks == ["10.0.1.2", "10.0.1.1", "10.0.1.2", "10.0.1.1", "10.0.1.1"])
        #expect(vs.destinations[0].overloaded)
    }

    @Test("For every scheduler, predict is the pick of a fresh service over the same list",
          arguments: SchedulerKind.allCases)
    func predictMatchesFreshScheduler(kind: SchedulerKind) throws {
        var rng = SplitMix(seed: 0x9e3d ^ UInt64(kind.rawValue.utf8.count))
        for _ in 0..<200 {
            let n = Int(rng.next() % 6)
            let list = (0..<n).map { i in
                state("10.0.1.\(i + 1)", weight: Int32(rng.next() % 4), active: Int32(rng.next() % 5),
                      inactive: Int32(rng.next() % 300), overloaded: rng.next() % 6 == 0)
            }
            let flags = kind.meaningfulFlags.isEmpty
                ? ServiceFlags() : ServiceFlags(rawValue: UInt32(rng.next() % 4) << 3)
            let svc = service(kind, flags: flags)
            let client = IPAddress.v4(IPv4Address(0xC0A8_0000 | UInt32(rng.next() % 65536)))
            let port = UInt16(1024 + rng.next() % 60000)
            var fresh = try ServiceScheduler(svc, kernelOrder: list)
            let expected = fresh.schedule(Flow(.tcp, from: client, port: port, to: Self.vip, port: 80))
                .map { fresh.destinations[$0].key }
            let got = try VirtualServer.predict(service: svc, destinations: list, client: client, clientPort: port)
            #expect(got == expected)
        }
    }
}
