// maglev-compare: is the Swift MaglevTable a faithful and fast port of Maglev population?
//
// 1. Correctness: for several sizes, backend counts and weightings, the Swift table and the C reference's table
//    must be identical slot for slot (same hashes and same algorithm give the same table). A mismatch exits 1.
// 2. Speed: for M ∈ {4093, 65537} × N ∈ {100, 1000}, builds both tables `--rounds` times, interleaved (Swift first
//    on even rounds, C first on odd ones, so that neither always runs on a warmer cache), and prints one JSON line
//    per configuration with the best and median build times and their ratio, Swift / C. The target is a ratio of
//    at most 1.2 at M = 65537, N = 100; `--check` exits 2 when it is missed.
//
// Both builds include the same work: validation (prime size, duplicate keys), allocating and clearing the table,
// the two hashes per backend, the fill, and freeing.
import CMaglevReference
import IPVSCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Options {
    var rounds = 301
    var check = false
    var only: (Int, Int)? = nil
}

func parseOptions() -> Options {
    var options = Options()
    var args = CommandLine.arguments.dropFirst()
    while let a = args.popFirst() {
        switch a {
        case "--rounds":
            guard let v = args.popFirst().flatMap({ Int($0) }), v > 0 else { usage() }
            options.rounds = v
        case "--check":
            options.check = true
        case "--only":
            guard let v = args.popFirst() else { usage() }
            let parts = v.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2 else { usage() }
            options.only = (parts[0], parts[1])
        default:
            usage()
        }
    }
    return options
}

func usage() -> Never {
    print("usage: maglev-compare [--rounds K] [--only M,N] [--check]")
    exit(64)
}

/// Keys of `count` backends: a SplitMix64 sequence, as the tests use.
func backends(_ count: Int, weights: (Int) -> UInt32 = { _ in 1 }) -> [MaglevTable.Backend] {
    (0..<count).map {
        MaglevTable.Backend(key: MaglevHash.mix(1 &+ UInt64($0) &* MaglevHash.gamma), weight: weights($0))
    }
}

func buildC(_ size: Int, _ backends: [CMaglevReference_Backend]) -> UnsafeMutablePointer<Int32> {
    let table = backends.withUnsafeBufferPointer {
        CMaglevReference_build(UInt32(size), $0.baseAddress, UInt32($0.count))
    }
    guard let table else {
        print("{\"error\":\"the C reference refused M=\(size) N=\(backends.count)\"}")
        exit(1)
    }
    return table
}

func cBackends(_ b: [MaglevTable.Backend]) -> [CMaglevReference_Backend] {
    b.map { CMaglevReference_Backend(key: $0.key, weight: $0.weight) }
}

// MARK: - Identity

func checkIdentical(size: Int, backends b: [MaglevTable.Backend], label: String) -> Bool {
    let swift = try! MaglevTable(size: size, backends: b)
    let c = buildC(size, cBackends(b))
    defer { CMaglevReference_free(c) }
    for s in 0..<size where swift.backend(atSlot: s) != Int(c[s]) {
        print("{\"identical\":false,\"case\":\"\(label)\",\"slot\":\(s),"
                + "\"swift\":\(swift.backend(atSlot: s)),\"c\":\(c[s])}")
        return false
    }
    // The C mix is the Swift mix.
    for x: UInt64 in [0, 1, 0xDEAD_BEEF, .max] where CMaglevReference_mix(x) != MaglevHash.mix(x) {
        print("{\"identical\":false,\"case\":\"mix(\(x))\"}")
        return false
    }
    return true
}

// MARK: - Timing

func nanoseconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) * 1e9 + Double(atto) / 1e9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func format(_ x: Double, _ digits: Int = 0) -> String {
    if digits == 0 { return String(Int(x.rounded())) }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let v = (x * p).rounded() / p
    return "\(v)"
}

let options = parseOptions()

// 1. Identity, including weighted and scaled-turn cases and the smallest sizes.
let identityCases: [(Int, [MaglevTable.Backend], String)] = [
    (65537, backends(100), "M=65537 N=100"),
    (65537, backends(1000), "M=65537 N=1000"),
    (4093, backends(100), "M=4093 N=100"),
    (4093, backends(1000), "M=4093 N=1000"),
    (65537, backends(100) { UInt32($0 % 4) + ($0 % 10 == 9 ? 0 : 1) }, "M=65537 N=100 weights 0-4"),
    (4093, backends(1000) { UInt32(truncatingIfNeeded: MaglevHash.mix(UInt64($0)) % 65535) + 1 },
     "M=4093 scaled turns"),
    (4093, backends(2) { $0 == 0 ? 1001 : 3000 }, "M=4093 weights 1001,3000"),
    (2, backends(2), "M=2 N=2"),
    (13, backends(13), "M=13 N=13"),
]
var allIdentical = true
for (size, b, label) in identityCases where !checkIdentical(size: size, backends: b, label: label) {
    allIdentical = false
}
print("{\"benchmark\":\"maglev-identity\",\"cases\":\(identityCases.count),\"identical\":\(allIdentical)}")
if !allIdentical { exit(1) }

// 2. Timing.
let target = 1.2
var missed = false
let configurations = [(65537, 100), (65537, 1000), (4093, 100), (4093, 1000)]
for (size, count) in configurations {
    if let only = options.only, only != (size, count) { continue }
    let b = backends(count)
    let cb = cBackends(b)
    let clock = ContinuousClock()
    var swiftTimes: [Double] = []
    var cTimes: [Double] = []
    swiftTimes.reserveCapacity(options.rounds)
    cTimes.reserveCapacity(options.rounds)
    var sink = 0
    func timeSwift() {
        let d = clock.measure {
            let t = try! MaglevTable(size: size, backends: b)
            sink &+= t.backend(atSlot: 0)
        }
        swiftTimes.append(nanoseconds(d))
    }
    func timeC() {
        let d = clock.measure {
            let t = buildC(size, cb)
            sink &+= Int(t[0])
            CMaglevReference_free(t)
        }
        cTimes.append(nanoseconds(d))
    }
    // Warm up both (page faults of the first allocations, instruction caches).
    for _ in 0..<3 {
        timeSwift()
        timeC()
    }
    swiftTimes.removeAll(keepingCapacity: true)
    cTimes.removeAll(keepingCapacity: true)
    for round in 0..<options.rounds {
        if round % 2 == 0 {
            timeSwift()
            timeC()
        } else {
            timeC()
            timeSwift()
        }
    }
    let swiftMin = swiftTimes.min()!, cMin = cTimes.min()!
    let swiftMedian = median(swiftTimes), cMedian = median(cTimes)
    let ratio = swiftMin / cMin
    let gated = size == 65537 && count == 100
    if gated && ratio > target { missed = true }
    print(
        "{\"benchmark\":\"maglev-populate\",\"M\":\(size),\"N\":\(count),\"rounds\":\(options.rounds),"
            + "\"swift_ns_min\":\(format(swiftMin)),\"swift_ns_median\":\(format(swiftMedian)),"
            + "\"c_ns_min\":\(format(cMin)),\"c_ns_median\":\(format(cMedian)),"
            + "\"ratio\":\(format(ratio, 3)),\"ratio_median\":\(format(swiftMedian / cMedian, 3)),"
            + "\"identical\":true" + (gated ? ",\"target\":\(target),\"meets_target\":\(ratio <= target)" : "")
            + "}")
    if sink == Int.min { print("") }  // keeps the builds observable
}
if options.check && missed { exit(2) }
