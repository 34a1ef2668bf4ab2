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
