// swift-tools-version:6.1
// Benchmarks for swift-ipvs: a package of its own, so that the library does not depend on the benchmark harness.
// Run from this directory: `swift package --disable-sandbox benchmark` (see README.md).
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-ipvs-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-ipvs", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Scheduler pick cost through ServiceScheduler.schedule, every scheduler at N = 10, 100, 1000.
        .executableTarget(
            name: "Schedulers",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IPVSCore", package: "swift-ipvs"),
            ],
            path: "Benchmarks/Schedulers",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // MaglevTable populate and lookup, beside the C reference's populate.
        .executableTarget(
            name: "Maglev",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "IPVSCore", package: "swift-ipvs"),
                "CMaglevReference",
            ],
            path: "Benchmarks/Maglev",
            swiftSettings: strictSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Maglev population in plain C, from the paper: the reference the Swift table is compared with.
        // -O3 rather than SwiftPM's release -O2, to compare against the C compiler's best effort.
        .target(name: "CMaglevReference", path: "Sources/CMaglevReference", cSettings: [.unsafeFlags(["-O3"])]),
        // Checks that Swift and C build identical tables, then times both interleaved and prints the ratio as JSON.
        .executableTarget(
            name: "maglev-compare",
            dependencies: [
                .product(name: "IPVSCore", package: "swift-ipvs"),
                "CMaglevReference",
            ],
            path: "Sources/maglev-compare",
            swiftSettings: strictSettings
        ),
        // The connection table's C references: liburcu cds_lfht (QSBR), Concurrency Kit ck_ht, and a flat
        // open-addressing table (the single-threaded ceiling); apt: liburcu-dev libck-dev. -O3 as for Maglev.
        .target(
            name: "CConnTableReference",
            path: "Sources/CConnTableReference",
            cSettings: [.unsafeFlags(["-O3"]), .define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("urcu-qsbr"), .linkedLibrary("urcu-cds"), .linkedLibrary("ck")]
        ),
        // ConnectionTable against the C references, same workloads in the same run: Mops per wall and CPU second.
        .executableTarget(
            name: "conntable-compare",
            dependencies: [
                .product(name: "IPVSCore", package: "swift-ipvs"),
                "CConnTableReference",
            ],
            path: "Sources/conntable-compare",
            swiftSettings: strictSettings
        ),
    ]
)
