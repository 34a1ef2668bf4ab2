#if canImport(Glibc)
import Glibc
#endif
@testable import IPVSCore
import Synchronization
import Testing

/// Runs each body on its own POSIX thread (not the cooperative pool: these bodies never suspend, and three of
/// them must run at once on two cores) and waits for all of them.
func runOnThreads(_ bodies: [@Sendable () -> Void]) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for body in bodies {
        var t = pthread_t()
        let arg = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&t, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, arg)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
}

/// Two threads drive TCP flows through one `Balancer` while a third drains, restores, removes and re-adds
/// destinations and sweeps. Checked: counters never go negative; every connection made while a destination was
/// drained or removed for the whole call went elsewhere; at quiescence the destinations' counters add up to the
/// connections in the table, and after a final sweep to zero. The name matches `Stress` so that `tools/test` can
/// run it under ThreadSanitizer.
@Suite("Balancer under threads (Stress)")
struct BalancerStressTests {
    static let vip = v4("10.0.0.1")
    static let service = ServiceKey.address(.tcp, vip, port: 80)
    static let servers = (1...4).map { server("10.0.1.\($0)") }

    /// What the editor is doing, readable by the workers: `epoch` changes before and after every edit, and
    /// `excluded` is the destination (1…4; 0 for none) that is drained or removed during the current epoch.
    final class EditState: Sendable {
        let epoch = Atomic<Int>(0)
        let excluded = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let clock = Atomic<UInt64>(1)  // seconds
        let violations = Atomic<Int>(0)
        let negatives = Atomic<Int>(0)
        let created = Atomic<Int>(0)
        let checkedExclusions = Atomic<Int>(0)
    }

    @Test("2 packet threads and 1 editor: counters consistent, never negative, excluded destinations never chosen")
    func packetsWhileEditing() throws {
        let b = try Balancer(.init(connectionCapacity: 1 << 15, maximumServices: 4, maximumDestinations: 64,
                                   statisticsShards: 2))
        try b.addService(tcpService(.wlc), servers: Self.servers)
        let e = EditState()
        let operationsPerWorker = 60_000

        let worker: (Int) -> @Sendable () -> Void = { w in
            {
                var rng = SplitMix(seed: UInt64(w) &+ 7)
                for _ in 0..<operationsPerWorker {
                    // Shared client pool: both threads hit the same connections too.
                    let client = IPAddress.v4(IPv4Address(0xC0A8_0000 | UInt32(rng.next(below: 64))))
                    let port = UInt16(1024 + rng.next(below: 32))
                    let now = Timestamp.seconds(e.clock.load(ordering: .relaxed))
                    let roll = rng.next(below: 100)
                    let flags: TCPFlags = roll < 30 ? .syn : roll < 75 ? .ack : roll < 88 ? [.fin, .ack] : .rst
                    let direction: PacketDirection = rng.next(below: 4) == 0 ? .output : .input
                    let p = BalancerPacket.tcp(client, port, to: Self.vip, 80, flags: flags, direction: direction,
                                               length: 100)
                    if roll >= 97 {
                        b.close(p)
                        continue
                    }
                    let epochBefore = e.epoch.load(ordering: .acquiring)
                    let excluded = e.excluded.load(ordering: .acquiring)
                    let r = b.process(p, now: now, worker: w)
                    let epochAfter = e.epoch.load(ordering: .acquiring)
                    if case .created(let d) = r {
                        e.created.add(1, ordering: .relaxed)
                        if excluded != 0 && epochBefore == epochAfter {
                            e.checkedExclusions.add(1, ordering: .relaxed)
                            if d.destination == Self.servers[excluded - 1].key {
                                e.violations.add(1, ordering: .relaxed)
                            }
                        }
                    }
                    if r == .tableFull { e.violations.add(1, ordering: .relaxed) }
                }
            }
        }

        let editor: @Sendable () -> Void = {
            var rng = SplitMix(seed: 99)
            var step = 0
            func checkCounters() {
                for s in Self.servers {
                    if let d = b.destination(s.key, in: Self.service),
                       d.activeConnections < 0 || d.inactiveConnections < 0 {
                        e.negatives.add(1, ordering: .relaxed)
                    }
                }
            }
            func exclude(_ i: Int, _ change: () throws -> Void, _ undo: () throws -> Void) {
                e.epoch.add(1, ordering: .releasing)
                try? change()
                e.excluded.store(i + 1, ordering: .releasing)
                e.epoch.add(1, ordering: .releasing)
                for _ in 0..<2000 where !e.stop.load(ordering: .relaxed) { checkCounters() }
                e.epoch.add(1, ordering: .releasing)
                e.excluded.store(0, ordering: .releasing)
                try? undo()
                e.epoch.add(1, ordering: .releasing)
            }
            while !e.stop.load(ordering: .relaxed) {
                let i = rng.next(below: 4)
                let s = Self.servers[i]
                if step % 2 == 0 {
                    exclude(i, { try b.editDestination(server("10.0.1.\(i + 1)", weight: 0), in: Self.service) },
                            { try b.editDestination(s, in: Self.service) })
                } else {
                    exclude(i, { try b.removeDestination(s.key, from: Self.service) },
                            { try b.addDestination(s, to: Self.service) })
                }
                step += 1
                // Time passes: connections expire and are swept while packets flow.
                let now = e.clock.add(7, ordering: .relaxed).newValue
                b.sweep(now: .seconds(now))
                b.tick(now: .seconds(now))
            }
        }

        let workers: [@Sendable () -> Void] = [worker(0), worker(1)]
        runOnThreads([
            { runOnThreads(workers); e.stop.store(true, ordering: .relaxed) },
            editor,
        ])

        #expect(e.violations.load(ordering: .relaxed) == 0)
        #expect(e.negatives.load(ordering: .relaxed) == 0)
        #expect(e.created.load(ordering: .relaxed) > 1000)
        #expect(e.checkedExclusions.load(ordering: .relaxed) > 0)

        // Quiescence: every connection in the table is counted once in its destination (list or trash).
        func counted() -> Int {
            Self.servers.reduce(0) { sum, s in
                let d = b.destination(s.key, in: Self.service)
                return sum + Int(d?.activeConnections ?? 0) + Int(d?.inactiveConnections ?? 0)
            }
        }
        var active = 0
        let now = Timestamp.seconds(e.clock.load(ordering: .relaxed))
        b.table.forEach { _, v in if v.flags & Balancer.inactiveFlag == 0 { active += 1 } }
        #expect(counted() == b.table.count())
        #expect(Self.servers.reduce(0) { $0 + Int(b.destination($1.key, in: Self.service)?.activeConnections ?? 0) }
                == active)
        // All expire in the end, each released exactly once.
        b.sweep(now: now.adding(seconds: 100_000))
        #expect(b.table.count() == 0)
        #expect(counted() == 0)
        for s in Self.servers {
            let d = b.destination(s.key, in: Self.service)
            #expect(d?.activeConnections == 0 && d?.inactiveConnections == 0, "\(s.key)")
        }
        // Statistics: every created connection was counted once in the service.
        #expect(b.statistics(of: Self.service)?.connections == UInt64(e.created.load(ordering: .relaxed)))
    }
}
