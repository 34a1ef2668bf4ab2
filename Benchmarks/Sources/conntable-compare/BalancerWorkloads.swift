// Balancer workloads (ConnectionTable's user): a new flow's first packet, scheduled by wlc over 8 real servers and
// inserted (`balancer-new`), and a packet of an existing flow (`balancer-existing`: find the connection, count the
// packet, restart its timer — what every packet after the first costs). No C reference: these are our figures only,
// printed beside ConnectionTable's own insert and lookup.
import CConnTableReference
import IPVSCore

let balancerVIP = IPAddress.v4(IPv4Address(10, 100, 0, 1))

/// Flow number `i`: a distinct client address per flow (from 64.0.0.0), a SplitMix64 client port.
func balancerPacket(_ i: Int, flags: TCPFlags) -> BalancerPacket {
    let port = UInt16(truncatingIfNeeded: 1024 &+ (splitMix(UInt64(i)) & 0x7FFF))
    return .tcp(.v4(IPv4Address(0x4000_0000 &+ UInt32(truncatingIfNeeded: i))), port, to: balancerVIP, 80,
                flags: flags, length: 1500)
}

final class PacketBuffer: @unchecked Sendable {
    let packets: UnsafeMutableBufferPointer<BalancerPacket>
    init(_ make: (Int) -> BalancerPacket, count: Int) {
        packets = .allocate(capacity: count)
        for i in 0..<count { packets.initializeElement(at: i, to: make(i)) }
    }
    deinit {
        packets.deinitialize()
        packets.deallocate()
    }
}

func measureBalancer(entries: Int, options: Options, report: (Measurement) -> Void) {
    let capacity = referenceCapacity(entries)
    let maxThreads = options.threads.max()!
    func newBalancer() -> Balancer {
        do {
            let b = try Balancer(Balancer.Configuration(connectionCapacity: capacity, statisticsShards: maxThreads,
                                                        hashSeed: CCONNREF_HASH_SEED))
            try b.addService(
                VirtualService(.address(.tcp, balancerVIP, port: 80), scheduler: .wlc),
                servers: (1...8).map { RealServer(.v4(IPv4Address(10, 0, 1, UInt8($0))), port: 8080, forwarding: .masquerade) })
            return b
        } catch {
            fail("cannot create a Balancer for \(entries) entries: \(error)")
        }
    }
    let now = Timestamp.seconds(10)

    /// Runs `passes` timed passes of every thread's slice of `buffers` through `process`; checks the outcome.
    func run(_ balancer: Balancer, _ buffers: [PacketBuffer], expectCreated: Bool) -> (wall: Double, cpu: Double) {
        let good = UnsafeMutableBufferPointer<Int>.allocate(capacity: buffers.count)
        defer { good.deallocate() }
        let job = ParallelJob(
            enter: { _ in },
            body: { t in
                var n = 0
                for p in buffers[t].packets {
                    switch balancer.process(p, now: now, worker: t) {
                    case .created: if expectCreated { n &+= 1 }
                    case .existing: if !expectCreated { n &+= 1 }
                    default: break
                    }
                }
                good[t] = n
            },
            exit: { _ in })
        let timing = runParallel(threads: buffers.count, pin: options.pin, job)
        let expected = buffers.reduce(0) { $0 + $1.packets.count }
        guard good.reduce(0, +) == expected else {
            fail("Balancer \(expectCreated ? "new" : "existing") flows: \(good.reduce(0, +)) of \(expected) as expected")
        }
        return timing
    }

    if options.workloads.contains(.balancerNew) {
        for threads in options.threads {
            let buffers = (0..<threads).map { t in
                PacketBuffer({ balancerPacket(t * entries / threads + $0, flags: .syn) },
                             count: (t + 1) * entries / threads - t * entries / threads)
            }
            var m = Measurement(implementation: .swift, workload: .balancerNew, entries: entries, threads: threads,
                                capacity: capacity, opsPerPass: entries)
            for _ in 0..<max(options.passes, min(101, 2_000_000 / entries)) {
                let b = newBalancer()
                let (wall, cpu) = run(b, buffers, expectCreated: true)
                m.wall.append(wall)
                m.cpu.append(cpu)
            }
            report(m)
        }
    }
    if options.workloads.contains(.balancerExisting) {
        let b = newBalancer()
        _ = run(b, [PacketBuffer({ balancerPacket($0, flags: .syn) }, count: entries)], expectCreated: true)
        for threads in options.threads {
            let buffers = (0..<threads).map { t in
                PacketBuffer({ n in
                    let i = Int(splitMix(options.seed ^ UInt64(t) << 40 ^ UInt64(n)) % UInt64(entries))
                    return balancerPacket(i, flags: .ack)
                }, count: options.opsPerPass)
            }
            var m = Measurement(implementation: .swift, workload: .balancerExisting, entries: entries,
                                threads: threads, capacity: capacity, opsPerPass: options.opsPerPass * threads)
            for _ in 0..<options.passes {
                let (wall, cpu) = run(b, buffers, expectCreated: false)
                m.wall.append(wall)
                m.cpu.append(cpu)
            }
            report(m)
        }
    }
}
