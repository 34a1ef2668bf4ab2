import Foundation
import Testing

/// Where the kernel tests are running.
enum KernelTestEnvironment {
    /// True inside the kernel test VM: `tools/vm/run` sets `IPVS_KERNEL_VM=1` for the command it runs.
    static let isKernelVM = ProcessInfo.processInfo.environment["IPVS_KERNEL_VM"] == "1"
}

extension Tag {
    /// Tests that drive the kernel's IPVS (see ``Testing/Trait/kernelIPVS``).
    @Tag static var kernelIPVS: Self
}

extension Trait where Self == ConditionTrait {
    /// A test that needs the kernel's IPVS: it runs only inside the kernel test VM and shows as skipped, with this
    /// reason, everywhere else.
    ///
    /// Inside the VM the condition is always true, so a missing module or a broken table fails the test loudly
    /// instead of skipping it (and `tools/test` fails a VM run that skipped anything). Outside the VM the test never
    /// runs, even on a host whose kernel has IPVS: these tests create network namespaces and change IPVS tables,
    /// which is fine in a throwaway VM and not on a developer's machine.
    ///
    /// Use it with the tag: `@Suite(.kernelIPVS, .tags(.kernelIPVS))`.
    static var kernelIPVS: Self {
        .enabled(
            if: KernelTestEnvironment.isKernelVM,
            "needs kernel IPVS: runs inside the kernel test VM (tools/vm/run sets IPVS_KERNEL_VM=1)"
        )
    }
}
