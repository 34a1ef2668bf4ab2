import Foundation
import Testing

/// Every scheduler the kernel ships is loaded in the VM and usable for a virtual service.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct SchedulerModuleTests {
    /// The schedulers of Debian's 6.1 kernel (net/netfilter/ipvs/ip_vs_*.c); twos arrived in 6.7.
    static let schedulers = ["rr", "wrr", "lc", "wlc", "sed", "nq", "dh", "sh", "mh", "fo", "ovf", "lblc", "lblcr"]

    @Test(arguments: schedulers.map { "ip_vs_\($0)" } + ["ip_vs", "ip_vs_pe_sip", "ip_vs_ftp", "veth", "dummy"])
    func moduleIsLoaded(_ module: String) throws {
        let modules = try String(contentsOfFile: "/proc/modules", encoding: .utf8)
        #expect(modules.split(separator: "\n").contains { $0.hasPrefix(module + " ") })
        #expect(FileManager.default.fileExists(atPath: "/sys/module/\(module)"))
    }

    /// One service per scheduler, all restored by one `ipvsadm -R` (each process costs a lot under emulation).
    @Test func virtualServicesAcceptEveryScheduler() throws {
        let namespace = try NetworkNamespace("sched")
        let services = Self.schedulers.enumerated().map { index, scheduler in
            (address: "192.0.2.1:\(8000 + index)", scheduler: scheduler)
        }
        try namespace.ipvsadm(restore: services.map { "-A -t \($0.address) -s \($0.scheduler)" })

        let lines = try namespace.ipvsadm("-Ln").split(separator: "\n")
        for service in services {
            #expect(lines.contains("TCP  \(service.address) \(service.scheduler)"), "scheduler \(service.scheduler)")
        }
    }
}
