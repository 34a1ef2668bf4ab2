// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-ipvs",
    products: [
        .library(name: "IPVSCore", targets: ["IPVSCore"]),
        .library(name: "IPVSNetlink", targets: ["IPVSNetlink"]),
        .library(name: "IPVSTap", targets: ["IPVSTap"]),
        .executable(name: "ipvsctl", targets: ["ipvsctl"]),
    ],
    targets: [
        // Pure Swift: the model, the kernel's schedulers, persistence. No Foundation, no syscalls.
        .target(
            name: "IPVSCore",
            path: "Sources/IPVSCore",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IPVSCoreTests",
            dependencies: ["IPVSCore"],
            path: "Tests/IPVSCoreTests",
            swiftSettings: strictSettings
        ),
        // Linux calls Swift cannot reach through Glibc (GNU extensions, macros).
        .target(
            name: "CIPVSLinux",
            path: "CShims/CIPVSLinux"
        ),
        // libnl-3 and libnl-genl-3 (one module: the genl headers include the core ones).
        .systemLibrary(
            name: "CNetlink",
            path: "CShims/CNetlink",
            pkgConfig: "libnl-genl-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]
        ),
        // IPVS constants from <linux/ip_vs.h>, attribute policy tables and the libnl macros Swift cannot call.
        .target(
            name: "CIPVSNetlink",
            dependencies: ["CNetlink"],
            path: "CShims/CIPVSNetlink"
        ),
        // The kernel bridge: IPVS generic netlink codec and client, speaking IPVSCore's types.
        .target(
            name: "IPVSNetlink",
            dependencies: ["IPVSCore", "CNetlink", "CIPVSNetlink", "CIPVSLinux"],
            path: "Sources/IPVSNetlink",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IPVSNetlinkTests",
            dependencies: ["IPVSNetlink", "IPVSCore", "CIPVSNetlink"],
            path: "Tests/IPVSNetlinkTests",
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        // libpcap (Debian libpcap-dev's headers): live capture, pcap files, BPF filters. Opened on first use
        // (dlopen), not linked: programs that link the tap but do not capture start without it (CPcap.h).
        .target(
            name: "CPcap",
            path: "CShims/CPcap",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // The pcap tap: packet decoding, flow tracking and the verifier that checks the kernel's choices against
        // IPVSCore's predictions.
        .target(
            name: "IPVSTap",
            dependencies: ["IPVSCore", "CPcap"],
            path: "Sources/IPVSTap",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IPVSTapTests",
            dependencies: ["IPVSTap", "IPVSCore"],
            path: "Tests/IPVSTapTests",
            swiftSettings: strictSettings
        ),
        // ipvsctl's testable parts: ipvsadm's command line, option matrix, listings and sort order.
        .target(
            name: "IPVSAdmin",
            dependencies: ["IPVSCore", "IPVSNetlink"],
            path: "Sources/IPVSAdmin",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "IPVSAdminTests",
            dependencies: ["IPVSAdmin", "IPVSCore", "IPVSNetlink"],
            path: "Tests/IPVSAdminTests",
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        // A drop-in replacement for ipvsadm.
        .executableTarget(
            name: "ipvsctl",
            dependencies: ["IPVSAdmin", "IPVSCore", "IPVSNetlink", "IPVSTap", "CIPVSLinux"],
            path: "Sources/ipvsctl",
            swiftSettings: strictSettings
        ),
        // tools/bench/kernel-sync's inner part (runs in the kernel VM): KernelMirror against ipvsadm, load and dump.
        .executableTarget(
            name: "kernel-sync",
            dependencies: ["IPVSCore", "IPVSNetlink"],
            path: "Sources/kernel-sync",
            swiftSettings: strictSettings
        ),
        // tools/bench/restore-parse: `ipvsctl -R`'s per-line cost on the host, full parser against the fast path.
        .executableTarget(
            name: "restore-bench",
            dependencies: ["IPVSAdmin", "IPVSCore", "IPVSNetlink"],
            path: "Sources/restore-bench",
            swiftSettings: strictSettings
        ),
        // tools/bench/listing: `ipvsctl -Ln`'s per-line cost (decoding the dump replies, formatting) on the host.
        .executableTarget(
            name: "listing-bench",
            dependencies: ["IPVSAdmin", "IPVSCore", "IPVSNetlink", "CIPVSNetlink", "CNetlink"],
            path: "Sources/listing-bench",
            swiftSettings: strictSettings
        ),
        // libFuzzer target for the tap's decoder and tracker (tools/test.d/host/40-tap-fuzz builds it with
        // -sanitize=fuzzer,address -DTAP_FUZZ); a plain build is a reproducer for saved inputs.
        .target(name: "CTapFuzz", path: "CShims/CTapFuzz"),
        .executableTarget(
            name: "tap-fuzz",
            dependencies: ["IPVSCore", "IPVSTap", "CTapFuzz"],
            path: "Sources/tap-fuzz",
            swiftSettings: strictSettings
        ),
        // tools/bench/tap: the tap's throughput from a generated pcap file, beside libpcap reading alone.
        .executableTarget(
            name: "tap-bench",
            dependencies: ["IPVSCore", "IPVSTap"],
            path: "Sources/tap-bench",
            swiftSettings: strictSettings
        ),
        // Tests that need kernel IPVS. They skip visibly on a host without it and run inside the
        // kernel VM (tools/vm/run), where a skip is a failure. See README "Kernel tests".
        .testTarget(
            name: "KernelTests",
            dependencies: ["IPVSCore", "CIPVSLinux", "IPVSNetlink", "IPVSTap"],
            path: "Tests/KernelTests",
            swiftSettings: strictSettings
        ),
    ]
)
