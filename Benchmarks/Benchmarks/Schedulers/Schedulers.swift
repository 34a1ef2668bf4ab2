// Scheduler pick cost: every kernel scheduler, through the public ServiceScheduler.schedule(_:now:), at N = 10, 100
// and 1000 destinations. Target (issue 2): ≤ 20 ns median per pick at N = 100.
//
// Each measured iteration runs 1000 picks (scalingFactor .kilo), so the wall-clock figures are per pick. Flows come
// from a precomputed array of 4096 with varied client addresses, client ports and destination addresses, so that
// the hashing schedulers (dh, sh, mh) and the locality caches (lblc, lblcr) do their real work on every pick.
import Benchmark
import IPVSCore

/// A deterministic stream of 64-bit values (SplitMix64), so every run benchmarks the same flows and counters.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= MaglevHash.gamma
        return MaglevHash.mix(state)
    }
    mutating func next(below bound: UInt64) -> UInt64 { next() % bound }
}

let flowCount = 4096  // a power of two: flows[i & (flowCount - 1)]

/// Flows to the VIP's port from varied clients, sent to varied addresses (lblc, lblcr and dh key on the packet's
/// destination, as for a firewall-mark service in front of caches).
func makeFlows() -> [Flow] {
    var random = SplitMix(state: 0xF10)
    return (0..<flowCount).map { _ in
        let client = IPv4Address(0xAC10_0000 | UInt32(random.next(below: 1 << 20)))  // 172.16.0.0/12
        let destination = IPv4Address(0x0A02_0000 | UInt32(random.next(below: 1 << 16)))  // 10.2.0.0/16
        return Flow(.tcp, from: .v4(client), port: UInt16(1024 + random.next(below: 64512)),
                    to: .v4(destination), port: 80)
    }
}

/// `count` destinations 10.1.x.y:8080 in kernel list order, weights 1…4 (gcd 1, as wrr and mh see real pools),
/// and load: active 0…63, inactive 0…255 connections, so the least-connection family has real comparisons to make.
/// With `idle`, every counter is 0 instead.
func makeDestinations(_ count: Int, idle: Bool = false) -> [DestinationState] {
    var random = SplitMix(state: 0xDE57 &+ UInt64(count))
    return (0..<count).map { i in
        let server = RealServer(.v4(IPv4Address(0x0A01_0000 | UInt32(i + 1))), port: 8080, forwarding: .masquerade,
                                weight: Int32(i % 4 + 1))
        let active = Int32(random.next(below: 64))
        let inactive = Int32(random.next(below: 256))
        return DestinationState(server, activeConnections: idle ? 0 : active, inactiveConnections: idle ? 0 : inactive)
    }
}

func makeService(_ kind: SchedulerKind, _ count: Int, idle: Bool = false) -> ServiceScheduler {
    let service = VirtualService(.address(.tcp, .v4(IPv4Address(10, 0, 0, 1)), port: 80), scheduler: kind)
    do {
        return try ServiceScheduler(service, kernelOrder: makeDestinations(count, idle: idle))
    } catch {
        fatalError("benchmark service \(kind) N=\(count) refused: \(error)")
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 100_000
    )
    let flows = makeFlows()
    let now = Timestamp.seconds(1000)

    // The pick alone. The service is copied per measured iteration and the first pick (which may copy state the
    // copy shares with the template, e.g. the lblc cache) runs before the clock starts.
    for kind in SchedulerKind.allCases {
        for count in [10, 100, 1000] {
            let template = makeService(kind, count)
            Benchmark("pick \(kind) N=\(count)") { benchmark in
                var service = template
                _ = service.schedule(flows[0], now: now)
                measurePicks(benchmark, &service, flows, now)
            }
        }
    }

    // lblc and lblcr with idle servers: a cached server is never "overloaded" in their sense (more active
    // connections than its weight while another has under half its own), so every pick after the first per
    // address is a cache hit. Under the load above, nearly every pick falls through to the least-loaded search.
    for kind in [SchedulerKind.lblc, .lblcr] {
        for count in [10, 100, 1000] {
            let template = makeService(kind, count, idle: true)
            Benchmark("pick \(kind) idle N=\(count)") { benchmark in
                var service = template
                for flow in flows { _ = service.schedule(flow, now: now) }  // fill the cache
                measurePicks(benchmark, &service, flows, now)
            }
        }
    }

    // The concrete algorithms' own schedule, without ServiceScheduler and the Scheduler enum's dispatch: the
    // difference to "pick" is what the dispatch costs (for stateful schedulers, moving the state out of the enum and
    // back on every pick).
    for count in [10, 100, 1000] {
        direct(RoundRobinScheduler.self, .rr, count, flows, now)
        direct(WeightedRoundRobinScheduler.self, .wrr, count, flows, now)
        direct(LeastConnectionScheduler.self, .lc, count, flows, now)
        direct(WeightedLeastConnectionScheduler.self, .wlc, count, flows, now)
        direct(ShortestExpectedDelayScheduler.self, .sed, count, flows, now)
        direct(NeverQueueScheduler.self, .nq, count, flows, now)
        direct(DestinationHashScheduler.self, .dh, count, flows, now)
        direct(SourceHashScheduler.self, .sh, count, flows, now)
        direct(MaglevHashScheduler.self, .mh, count, flows, now)
        direct(WeightedFailoverScheduler.self, .fo, count, flows, now)
        direct(WeightedOverflowScheduler.self, .ovf, count, flows, now)
        direct(LocalityBasedLeastConnectionScheduler.self, .lblc, count, flows, now)
        direct(LocalityBasedLeastConnectionReplicationScheduler.self, .lblcr, count, flows, now)
    }

    // The pick plus the counter updates a data plane makes around it, for the schedulers that keep an index over the
    // counters (lc, wlc, sed, nq): bind a connection to the picked destination and unbind the one bound 1024 picks
    // earlier, so the load stays steady. Per iteration: one pick, one connectionBound, one connectionUnbound.
    for kind in [SchedulerKind.lc, .wlc, .sed, .nq] {
        for count in [10, 100, 1000] {
            var template = makeService(kind, count)
            // Pre-bind a ring of 1024 connections so every unbind matches an earlier bind.
            var ring: [DestinationKey] = []
            for i in 0..<1024 {
                let picked = template.schedule(flows[i & (flowCount - 1)], now: now) ?? i % count
                let key = template.destinations[picked].key
                template.connectionBound(to: key)
                ring.append(key)
            }
            let initialRing = ring
            Benchmark("pick+counters \(kind) N=\(count)") { benchmark in
                var service = template
                var ring = initialRing
                service.connectionBound(to: ring[0])
                service.connectionUnbound(from: ring[0], wasActive: false)
                var slot = 0
                benchmark.startMeasurement()
                for i in benchmark.scaledIterations {
                    let picked = service.schedule(flows[i & (flowCount - 1)], now: now) ?? i % count
                    let key = service.destinations[picked].key
                    service.connectionBound(to: key)
                    service.connectionUnbound(from: ring[slot], wasActive: false)
                    ring[slot] = key
                    slot = (slot + 1) & 1023
                }
                benchmark.stopMeasurement()
                blackHole(ring)
            }
        }
    }
}

/// The measured part of every "pick" benchmark: `benchmark.scaledIterations` picks over the flows.
func measurePicks(_ benchmark: Benchmark, _ service: inout ServiceScheduler, _ flows: [Flow], _ now: Timestamp) {
    var sum = 0
    benchmark.startMeasurement()
    for i in benchmark.scaledIterations {
        sum &+= service.schedule(flows[i & (flowCount - 1)], now: now) ?? -1
    }
    benchmark.stopMeasurement()
    blackHole(sum)
}

/// Registers "direct <kind> N=<count>": `A.schedule` on a DestinationList, as ServiceScheduler would call it.
func direct<A: SchedulingAlgorithm>(_ type: A.Type, _ kind: SchedulerKind, _ count: Int, _ flows: [Flow],
                                    _ now: Timestamp) {
    let list = DestinationList(kernelOrder: makeDestinations(count))
    let template = A(destinations: list, flags: [])
    Benchmark("direct \(kind) N=\(count)") { benchmark in
        var algorithm = template
        _ = algorithm.schedule(flows[0], in: list, now: now)
        var sum = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            sum &+= algorithm.schedule(flows[i & (flowCount - 1)], in: list, now: now) ?? -1
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }
}
