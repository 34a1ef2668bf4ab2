// swift-tools-version:6.1
// The CI allocation gate as a package of its own: nothing to resolve from the network and no benchmark harness or
// plugin tools to build, so that a cold build is IPVSCore in release plus one small C file.
// Run from the repository root: tools/test.d/host/30-benchmark-gate.
import PackageDescription

let package = Package(
    name: "swift-ipvs-allocation-gate",
    dependencies: [
        .package(name: "swift-ipvs", path: "../.."),
    ],
    targets: [
        // Counts malloc & co. in the executable that links it.
        .target(name: "CMallocCounter", path: "Sources/CMallocCounter"),
        // Exits 1 when a hot path (ConnectionTable lookup/insert/update/remove, Balancer packets) allocates.
        .executableTarget(
            name: "allocation-gate",
            dependencies: [
                .product(name: "IPVSCore", package: "swift-ipvs"),
                "CMallocCounter",
            ],
            path: "Sources/allocation-gate",
            swiftSettings: [
                .enableUpcomingFeature("MemberImportVisibility"),
                .enableUpcomingFeature("ExistentialAny"),
            ]
        ),
    ]
)
