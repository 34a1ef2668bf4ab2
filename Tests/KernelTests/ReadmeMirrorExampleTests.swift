import IPVSCore
import IPVSNetlink
import Testing

/// README "Programming kernel IPVS": the example, as written there, against the kernel (only the namespace's name
/// differs: each test has its own).
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct ReadmeMirrorExampleTests {
    @Test func theReadmeMirrorExampleProgramsTheKernelAndIsIdempotent() throws {
        let namespace = try NetworkNamespace("readme")
        // A service outside the mirror's scope, which it must leave alone.
        try namespace.ipvsadm(restore: ["-A -t 192.0.2.1:80 -s wlc"])

        var handle = try IPVSHandle(networkNamespaceNamed: namespace.name)
        #expect(try handle.services().count == 1)

        let mirror = try KernelMirror(
            scope: MirrorScope(networks: [.init(IPAddress("10.96.0.0")!, prefixLength: 12)]),
            networkNamespace: "/run/netns/\(namespace.name)")
        let desired = [
            MirroredService(
                VirtualService(.address(.tcp, IPAddress("10.96.0.1")!, port: 80), scheduler: .rr),
                destinations: ["10.244.1.5", "10.244.2.7"].map {
                    RealServer(IPAddress($0)!, port: 8080, forwarding: .masquerade, weight: 1)
                })
        ]
        let plan = try mirror.plan(desired)
        #expect(plan.requests.count == 3)
        let report = try mirror.apply(desired)
        #expect(report.mutatingMessages == 3)
        #expect(try mirror.apply(desired).mutatingMessages == 0)

        let rules = Set(try namespace.ipvsadm("-Sn").split(separator: "\n").map(String.init))
        #expect(
            rules == [
                "-A -t 10.96.0.1:80 -s rr",
                "-a -t 10.96.0.1:80 -r 10.244.1.5:8080 -m -w 1",
                "-a -t 10.96.0.1:80 -r 10.244.2.7:8080 -m -w 1",
                "-A -t 192.0.2.1:80 -s wlc",
            ])
        #expect(try handle.services().count == 2)
    }
}
