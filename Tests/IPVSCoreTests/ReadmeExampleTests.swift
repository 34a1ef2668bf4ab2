import IPVSCore
import Testing

/// The README's quick-start example, kept compiling and true.
@Test("README quick start: wlc over three idle servers picks the head of the kernel's list")
func readmeQuickStart() throws {
    let vip = IPAddress("10.96.0.1")!
    var svc = try ServiceScheduler(
        VirtualService(.address(.tcp, vip, port: 80), scheduler: .wlc),
        servers: ["10.244.1.5", "10.244.2.7", "10.244.3.9"].map {
            RealServer(IPAddress($0)!, port: 8080, forwarding: .masquerade, weight: 1)
        })
    let flow = Flow(.tcp, from: IPAddress("192.168.1.20")!, port: 51000, to: vip, port: 80)
    let picked = svc.schedule(flow)
    let i = try #require(picked)
    #expect(svc.destinations[i].server.address.description == "10.244.3.9")
}

@Test("README: ClientIP affinity pins a client; predict answers from a snapshot")
func readmeAffinity() throws {
    let vip = IPAddress("10.96.0.1")!
    let pods = ["10.244.1.5", "10.244.2.7", "10.244.3.9"].map {
        RealServer(IPAddress($0)!, port: 8080, forwarding: .masquerade, weight: 1)
    }
    let service = VirtualService.clientIPAffinity(.address(.tcp, vip, port: 80), scheduler: .rr)
    var vs = try VirtualServer(service, servers: pods)
    let client = IPAddress("192.168.1.20")!
    let first = vs.newConnection(Flow(.tcp, from: client, port: 51000, to: vip, port: 80), now: .seconds(0))
    let again = vs.newConnection(Flow(.tcp, from: client, port: 51001, to: vip, port: 80), now: .seconds(60))
    #expect(first?.description == "10.244.3.9:8080")
    #expect(again == first)
    let pick = try VirtualServer.predict(
        service: VirtualService(.address(.tcp, vip, port: 80), scheduler: .wlc),
        destinations: Array(vs.destinations), client: client, clientPort: 51002)
    #expect(pick?.description == "10.244.2.7:8080")
}
