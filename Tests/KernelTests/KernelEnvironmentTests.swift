import Foundation
import Testing

/// The VM is what the other kernel tests assume: the kernel has IPVS and the command runs as root.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct KernelEnvironmentTests {
    @Test func kernelHasIPVSWithTheDefaultConnectionTable() throws {
        let info = try String(contentsOfFile: "/proc/net/ip_vs", encoding: .utf8)
        #expect(info.hasPrefix("IP Virtual Server version 1.2.1 (size=4096)\n"))
    }

    @Test func testsRunAsRoot() {
        #expect(getuid() == 0)
    }
}
