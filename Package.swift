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
        // Tests that need kernel IPVS. They skip visibly on a host without it and run inside the
        // kernel VM (tools/vm/run), where a skip is a failure. See README "Kernel tests".
        // Linux calls Swift cannot reach through Glibc (GNU extensions, macros).
        .target(
            name: "CIPVSLinux",
            path: "CShims/CIPVSLinux"
        ),
        .testTarget(
            name: "KernelTests",
            dependencies: ["IPVSCore", "CIPVSLinux"],
            path: "Tests/KernelTests",
            swiftSettings: strictSettings
        ),
    ]
)
