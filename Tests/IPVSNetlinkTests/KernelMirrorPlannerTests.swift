import CIPVSNetlink
import IPVSCore
import Testing

@testable import IPVSNetlink

/// The mirror's planner: kernel state + desired table + scope → steps. Pure, so tested here without a kernel.
@Suite struct KernelMirrorPlannerTests {
    static func tcp(_ n: UInt8, port: UInt16 = 80) -> VirtualService {
        VirtualService(.address(.tcp, .v4(IPv4Address(10, 0, 0, n)), port: port), scheduler: .rr)
    }
    static func udp(_ n: UInt8) -> VirtualService {
        VirtualService(.address(.udp, .v4(IPv4Address(10, 0, 0, n)), port: 53), scheduler: .rr)
    }
    static func server(_ n: UInt8, weight: Int32 = 1) -> RealServer {
        RealServer(.v4(IPv4Address(10, 1, 0, n)), port: 8080, forwarding: .masquerade, weight: weight)
    }
    static func entry(_ s: RealServer, active: UInt32 = 0, inactive: UInt32 = 0) -> IPVSDestinationEntry {
        IPVSDestinationEntry(server: s, activeConnections: active, inactiveConnections: inactive)
    }
    static let scope = MirrorScope(networks: [.init(.v4(IPv4Address(10, 0, 0, 0)), prefixLength: 24)])

    static func kinds(_ plan: MirrorPlan) -> [MirrorStep.Kind] { plan.steps.map(\.kind) }

    @Test func fromEmptyEveryServiceIsAddedBeforeItsDestinations() {
        let desired = [
            MirroredService(Self.tcp(1), destinations: [Self.server(1), Self.server(2)]),
            MirroredService(Self.udp(2), destinations: [Self.server(3)]),
        ]
        let plan = MirrorPlanner.plan(kernel: [], desired: desired, scope: Self.scope)
        #expect(
            plan.requests == [
                .newService(Self.tcp(1)), .newDestination(Self.server(1), in: Self.tcp(1)),
                .newDestination(Self.server(2), in: Self.tcp(1)), .newService(Self.udp(2)),
                .newDestination(Self.server(3), in: Self.udp(2)),
            ])
        #expect(plan.counts == [.addService: 2, .addDestination: 3])
    }

    @Test func equalTablesPlanNothing() {
        let kernel = [KernelService(Self.tcp(1), destinations: [Self.entry(Self.server(1), active: 3)])]
        let desired = [MirroredService(Self.tcp(1), destinations: [Self.server(1)])]
        let plan = MirrorPlanner.plan(kernel: kernel, desired: desired, scope: Self.scope)
        #expect(plan.steps.isEmpty && plan.draining.isEmpty)
    }

    @Test func onlyTheFieldsThatDifferAreEdited() {
        var heavier = Self.server(2)
        heavier.weight = 7
        var lc = Self.tcp(1)
        lc.scheduler = .lc
        let kernel = [
            KernelService(Self.tcp(1), destinations: [Self.entry(Self.server(1)), Self.entry(Self.server(2))]),
            KernelService(Self.tcp(2), destinations: [Self.entry(Self.server(1))]),
        ]
        let desired = [
            MirroredService(lc, destinations: [Self.server(1), heavier]),
            MirroredService(Self.tcp(2), destinations: [Self.server(1)]),
        ]
        let plan = MirrorPlanner.plan(kernel: kernel, desired: desired, scope: Self.scope)
        #expect(plan.requests == [.setService(lc), .setDestination(heavier, in: lc)])
        #expect(Self.kinds(plan) == [.editService, .editDestination])
    }

    @Test func servicesOutsideTheScopeAreNeverTouched() {
        let outside = VirtualService(.address(.tcp, .v4(IPv4Address(192, 168, 0, 1)), port: 80))
        let mark = VirtualService(.firewallMark(5, .inet))
        let kernel = [
            KernelService(outside, destinations: [Self.entry(Self.server(1))]),
            KernelService(mark),
            KernelService(Self.tcp(9)),
        ]
        let plan = MirrorPlanner.plan(kernel: kernel, desired: [], scope: Self.scope)
        #expect(plan.requests == [.deleteService(Self.tcp(9))])
        // With the mark in scope, it goes too.
        var withMarks = Self.scope
        withMarks.firewallMarks = [1...10]
        #expect(
            MirrorPlanner.plan(kernel: kernel, desired: [], scope: withMarks).requests == [
                .deleteService(mark), .deleteService(Self.tcp(9)),
            ])
    }

    @Test func removedTCPDestinationWithConnectionsDrainsThenGoesWhenIdle() {
        let desired = [MirroredService(Self.tcp(1), destinations: [Self.server(1)])]
        // Pass 1: live connections → weight 0.
        let busy = [
            KernelService(
                Self.tcp(1), destinations: [Self.entry(Self.server(1)), Self.entry(Self.server(2), active: 1)])
        ]
        let first = MirrorPlanner.plan(kernel: busy, desired: desired, scope: Self.scope)
        #expect(first.requests == [.setDestination(Self.server(2, weight: 0), in: Self.tcp(1))])
        #expect(Self.kinds(first) == [.drainDestination])
        #expect(first.draining.map(\.destination.server.key) == [Self.server(2).key])
        // Pass 2: still an inactive connection, already at 0 → nothing sent, still draining.
        let draining = [
            KernelService(
                Self.tcp(1),
                destinations: [Self.entry(Self.server(1)), Self.entry(Self.server(2, weight: 0), inactive: 1)])
        ]
        let second = MirrorPlanner.plan(kernel: draining, desired: desired, scope: Self.scope)
        #expect(second.steps.isEmpty)
        #expect(second.draining.count == 1)
        // Pass 3: idle → deleted.
        let idle = [
            KernelService(
                Self.tcp(1), destinations: [Self.entry(Self.server(1)), Self.entry(Self.server(2, weight: 0))])
        ]
        let third = MirrorPlanner.plan(kernel: idle, desired: desired, scope: Self.scope)
        #expect(third.requests == [.deleteDestination(Self.server(2, weight: 0), in: Self.tcp(1))])
        #expect(third.draining.isEmpty)
    }

    @Test func removedUDPDestinationIsDeletedAtOnceEvenWithConnections() {
        let kernel = [KernelService(Self.udp(1), destinations: [Self.entry(Self.server(1), active: 4, inactive: 2)])]
        let plan = MirrorPlanner.plan(kernel: kernel, desired: [MirroredService(Self.udp(1))], scope: Self.scope)
        #expect(plan.requests == [.deleteDestination(Self.server(1), in: Self.udp(1))])
    }

    @Test func drainingDestinationThatComesBackIsRestored() {
        let kernel = [
            KernelService(Self.tcp(1), destinations: [Self.entry(Self.server(1, weight: 0), active: 2)])
        ]
        let desired = [MirroredService(Self.tcp(1), destinations: [Self.server(1, weight: 5)])]
        let plan = MirrorPlanner.plan(kernel: kernel, desired: desired, scope: Self.scope)
        #expect(plan.requests == [.setDestination(Self.server(1, weight: 5), in: Self.tcp(1))])
        #expect(Self.kinds(plan) == [.restoreDestination])
        #expect(plan.draining.isEmpty)
    }

    @Test func applyingThePlanToTheKernelStateGivesTheDesiredTable() {
        // A small model of the kernel: apply each step's effect and re-plan; the second plan must be empty.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let kernel = (1...UInt8.random(in: 1...8, using: &rng)).map { n in
                KernelService(
                    Self.tcp(n),
                    destinations: (1...UInt8.random(in: 1...4, using: &rng)).map {
                        Self.entry(Self.server($0, weight: Int32.random(in: 0...3, using: &rng)))
                    })
            }
            let desired = (UInt8(1)...UInt8.random(in: 1...8, using: &rng)).filter { _ in Bool.random() }.map { n in
                MirroredService(
                    Self.tcp(n),
                    destinations: (1...UInt8.random(in: 1...4, using: &rng)).filter { _ in Bool.random() }.map {
                        Self.server($0, weight: Int32.random(in: 0...3, using: &rng))
                    })
            }
            let plan = MirrorPlanner.plan(kernel: kernel, desired: desired, scope: Self.scope)
            let after = Self.simulate(plan, on: kernel)
            #expect(MirrorPlanner.plan(kernel: after, desired: desired, scope: Self.scope).steps.isEmpty)
            #expect(
                Set(
                    after.map { MirroredService($0.service, destinations: $0.destinations.map(\.server)) }.map(
                        Self.norm))
                    == Set(desired.map(Self.norm)))
        }
    }

    static func norm(_ m: MirroredService) -> [String] {
        ["\(m.service)"] + m.destinations.map { "\($0)" }.sorted()
    }

    /// What the kernel does with each request (ip_vs_ctl.c: NEW adds, SET replaces, DEL removes).
    static func simulate(_ plan: MirrorPlan, on kernel: [KernelService]) -> [KernelService] {
        var table = kernel
        for step in plan.steps {
            switch step.request.body {
            case .service(let s, _):
                let i = table.firstIndex { $0.service.key == s.key }
                switch step.kind {
                case .addService: table.append(KernelService(s))
                case .editService: table[i!].service = s
                default: table.remove(at: i!)
                }
            case .destination(let s, let r, _):
                let i = table.firstIndex { $0.service.key == s.key }!
                let j = table[i].destinations.firstIndex { $0.server.key == r.key }
                switch step.kind {
                case .addDestination: table[i].destinations.append(Self.entry(r))
                case .deleteDestination: table[i].destinations.remove(at: j!)
                default: table[i].destinations[j!].server = r
                }
            default: Issue.record("unexpected request \(step.request)")
            }
        }
        return table
    }

    @Test func desiredTablesTheKernelWouldRefuseAreRefusedBeforeAnything() {
        let outside = VirtualService(.address(.tcp, .v4(IPv4Address(192, 168, 0, 1)), port: 80))
        #expect(throws: KernelMirrorError.outOfScope(outside.key)) {
            try MirrorPlanner.validate([MirroredService(outside)], scope: Self.scope)
        }
        #expect(throws: KernelMirrorError.duplicateService(Self.tcp(1).key)) {
            try MirrorPlanner.validate([MirroredService(Self.tcp(1)), MirroredService(Self.tcp(1))], scope: Self.scope)
        }
        #expect(throws: KernelMirrorError.duplicateDestination(Self.tcp(1).key, Self.server(1).key)) {
            try MirrorPlanner.validate(
                [MirroredService(Self.tcp(1), destinations: [Self.server(1), Self.server(1, weight: 4)])],
                scope: Self.scope)
        }
        var badWeight = Self.server(1)
        badWeight.weight = -1
        #expect {
            try MirrorPlanner.validate([MirroredService(Self.tcp(1), destinations: [badWeight])], scope: Self.scope)
        } throws: { error in
            guard case .invalid(let key, _) = error as? KernelMirrorError else { return false }
            return key == Self.tcp(1).key
        }
    }

    @Test func scopeMatchesByKeyNetworkAndMark() {
        let scope = MirrorScope(
            services: [.address(.udp, .v4(IPv4Address(172, 16, 0, 1)), port: 53)],
            networks: [.init(IPAddress("2001:db8::")!, prefixLength: 32)], firewallMarks: [100...199])
        #expect(scope.contains(.address(.udp, .v4(IPv4Address(172, 16, 0, 1)), port: 53)))
        #expect(!scope.contains(.address(.tcp, .v4(IPv4Address(172, 16, 0, 1)), port: 53)))
        #expect(scope.contains(.address(.tcp, IPAddress("2001:db8:ffff::1")!, port: 1)))
        #expect(!scope.contains(.address(.tcp, IPAddress("2001:db9::1")!, port: 1)))
        #expect(scope.contains(.firewallMark(150, .inet6)))
        #expect(!scope.contains(.firewallMark(200, .inet)))
        #expect(MirrorScope.everything.contains(.firewallMark(0, .inet)))
        #expect(MirrorScope.everything.contains(.address(.sctp, IPAddress("::1")!, port: 9)))
    }
}

/// The batch encoder writes every request byte for byte as IPVSRequest.encode (libnl) does.
@Suite struct BatchEncodingTests {
    static let services: [VirtualService] = [
        VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .wlc),
        VirtualService(
            .address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .rr, flags: .persistent,
            persistenceTimeout: 300, netmask: 64),
        VirtualService(.firewallMark(7, .inet), scheduler: .sh, flags: [.shFallback, .shPort]),
        VirtualService(
            .address(.udp, IPAddress("10.0.0.3")!, port: 5060), scheduler: .lc, flags: .persistent,
            persistenceTimeout: 60, netmask: 0xffff_ff00, persistenceEngine: "sip"),
        VirtualService(.address(.sctp, IPAddress("10.0.0.4")!, port: 9), scheduler: .mh, flags: .mhPort),
    ]
    static let servers: [RealServer] = [
        RealServer(
            IPAddress("10.0.1.2")!, port: 8080, forwarding: .masquerade, weight: 3, upperThreshold: 100,
            lowerThreshold: 50),
        RealServer(IPAddress("2001:db8::2")!, port: 53, forwarding: .route, weight: 65535),
        RealServer(
            IPAddress("10.0.1.3")!, port: 80, forwarding: .tunnel, weight: 0, tunnelType: .gue, tunnelPort: 6080,
            tunnelFlags: [.checksum, .remoteChecksum]),
    ]

    static var requests: [IPVSRequest] {
        var all: [IPVSRequest] = []
        for s in services {
            all += [.newService(s), .setService(s), .deleteService(s)]
            for r in servers {
                all += [.newDestination(r, in: s), .setDestination(r, in: s), .deleteDestination(r, in: s)]
            }
        }
        var named = IPVSRequest.newService(services[0])
        named.schedulerName = "nonesuch"
        return all + [named, .setConfig(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)), .flush]
    }

    @Test func everyRequestIsWrittenAsLibnlEncodesIt() throws {
        var buffer = [UInt8](repeating: 0xAA, count: 4096)
        for (i, request) in Self.requests.enumerated() {
            let sequence = UInt32(1000 + i)
            let theirs = try request.encode(family: 0x1c, sequence: sequence, portID: 0x1234)
            let length = buffer.withUnsafeMutableBytes {
                IPVSMessageWriter.write(
                    request, into: $0, at: 8, family: 0x1c, sequence: sequence, portID: 0x1234, acknowledge: true)
            }
            #expect(length == theirs.count, "\(request)")
            #expect(Array(buffer[8..<8 + theirs.count]) == theirs, "\(request)")
        }
    }

    /// KernelMirror encodes a plan from its compact steps (a service's key nest written once and copied): every kind
    /// of step, on every kind of service, gives the bytes of the step's request as libnl encodes it.
    @Test func planStepsAreWrittenAsTheirRequestsEncode() throws {
        var plan = MirrorPlan()
        for s in Self.services {
            let index = plan.add(s)
            for kind in [MirrorStep.Kind.addService, .editService, .deleteService] { plan.append(kind, service: index) }
            for r in Self.servers {
                for kind in [
                    MirrorStep.Kind.addDestination, .editDestination, .drainDestination, .restoreDestination,
                    .deleteDestination,
                ] {
                    plan.append(kind, service: index, r)
                }
            }
        }
        let messages = PlanMessages(plan)
        #expect(messages.count == Self.services.count * (3 + 5 * Self.servers.count))
        try Self.expectWritten(messages, as: (0..<messages.count).map { plan.request(at: $0) }, firstSequence: 7000) {
            _ in true
        }
        // Too little room: nothing written.
        var small = [UInt8](repeating: 0, count: 100)
        let none = small.withUnsafeMutableBytes {
            messages.write(4, into: $0, at: 0, family: 1, sequence: 1, portID: 1, acknowledge: false)
        }
        #expect(none == nil)
    }

    /// Every message of `messages`, written at offset 12 with its sequence number (from `firstSequence`) and the
    /// acknowledgement flag `acknowledge(i)` says, is the request libnl encodes (family 0x1c, port id 0x1234).
    static func expectWritten(
        _ messages: some BatchMessages, as requests: [IPVSRequest], firstSequence: UInt32,
        acknowledge: (Int) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var buffer = [UInt8](repeating: 0xAA, count: 4096)
        for (i, request) in requests.enumerated() {
            let sequence = firstSequence + UInt32(i)
            var theirs = try request.encode(family: 0x1c, sequence: sequence, portID: 0x1234)
            if !acknowledge(i) { theirs[6] &= ~0x04 }  // NLM_F_ACK
            let length = buffer.withUnsafeMutableBytes {
                messages.write(
                    i, into: $0, at: 12, family: 0x1c, sequence: sequence, portID: 0x1234, acknowledge: acknowledge(i))
            }
            #expect(length == theirs.count, "\(i): \(request)", sourceLocation: sourceLocation)
            #expect(Array(buffer[12..<12 + theirs.count]) == theirs, "\(i): \(request)", sourceLocation: sourceLocation)
            #expect(messages.operation(at: i) == request.operation, sourceLocation: sourceLocation)
        }
    }

    /// `ipvsctl -R` encodes its changes on the reading thread (IPVSEncodedBatch) and the sending thread copies
    /// them: every kind of request, copied with its sequence number and with or without the acknowledgement, gives
    /// the bytes libnl encodes; a batch large enough to grow its buffer keeps every message whole.
    @Test func encodedBatchesAreCopiedAsTheirRequestsEncode() throws {
        var requests: [IPVSRequest] = []
        for s in Self.services {
            requests += [.newService(s), .setService(s), .deleteService(s), .zero(s)]
            for r in Self.servers {
                requests += [
                    .newDestination(r, in: s), .setDestination(r, in: s), .deleteDestination(r, in: s),
                ]
            }
        }
        requests += [.setConfig(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)), .zero(nil)]
        requests = Array(repeating: requests, count: 100 / requests.count + 2).flatMap { $0 }
        let batch = IPVSEncodedBatch(requests, family: 0x1c, portID: 0x1234)
        let messages = EncodedMessages(batch: batch)
        #expect(messages.count == requests.count && requests.count > 100)
        try Self.expectWritten(messages, as: requests, firstSequence: 9000) { $0 % 3 == 0 }
        var small = [UInt8](repeating: 0, count: 30)
        let none = small.withUnsafeMutableBytes {
            messages.write(4, into: $0, at: 0, family: 0x1c, sequence: 1, portID: 0x1234, acknowledge: false)
        }
        #expect(none == nil)
    }

    /// An encoded batch is written into room for each message's largest size: that bound holds for every kind of
    /// request (long scheduler and engine names, IPv6, marks), and a batch whose bound falls short (given here)
    /// is written again into more room until it fits, with the same bytes.
    @Test func encodedBatchesFitTheirBoundOrGrow() throws {
        var requests: [IPVSRequest] = []
        var services = Self.services
        var engine = Self.services[0]
        engine.flags.insert(.persistent)
        engine.persistenceEngine = "sip"
        services.append(engine)
        for s in services {
            requests += [.newService(s), .setService(s), .deleteService(s), .zero(s)]
            var named = IPVSRequest.newService(s)
            named.schedulerName = String(repeating: "x", count: 200)
            requests.append(named)
            for r in Self.servers {
                requests += [.newDestination(r, in: s), .setDestination(r, in: s), .deleteDestination(r, in: s)]
            }
        }
        requests += [.setConfig(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)), .zero(nil)]
        var buffer = [UInt8](repeating: 0, count: 4096)
        for request in requests {
            let length = try #require(
                buffer.withUnsafeMutableBytes {
                    IPVSMessageWriter.write(
                        request, into: $0, at: 0, family: 0x1c, sequence: 1, portID: 2, acknowledge: false)
                })
            // The writer asks for 20 bytes of room beyond a message.
            #expect(IPVSMessageWriter.maximumSize(request) >= length + 20, "\(request)")
        }
        let batch = IPVSEncodedBatch(requests, family: 0x1c, portID: 0x1234)
        let grown = IPVSEncodedBatch(requests, family: 0x1c, portID: 0x1234, bound: { _ in 0 })
        #expect(batch.bytes == grown.bytes && batch.offsets == grown.offsets)
        #expect(batch.offsets.count == requests.count + 1 && batch.offsets.last == batch.bytes.count)
        try Self.expectWritten(EncodedMessages(batch: grown), as: requests, firstSequence: 7) { $0 % 2 == 0 }
    }

    /// The sending thread lays out an encoded batch's messages as a run (one copy, then the sequence numbers and
    /// flags in place): the same bytes, count, length and last message as its messages written one by one, for
    /// runs cut by the message limit, by the buffer's size (down to less than one message) and by the batch's end;
    /// and with room to spare, the bytes libnl's requests give.
    @Test func encodedRunsAreTheRequestsWrittenOneByOne() throws {
        var requests: [IPVSRequest] = []
        for s in Self.services {
            requests += [.newService(s), .setService(s)]
            for r in Self.servers { requests += [.newDestination(r, in: s), .deleteDestination(r, in: s)] }
        }
        requests += [.setConfig(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300)), .zero(nil)]
        let batch = IPVSEncodedBatch(requests, family: 0x1c, portID: 0x1234)
        let encoded = EncodedMessages(batch: batch)
        let oneByOne = RequestMessages(requests: requests)
        var runs = 0
        for from in [0, 1, requests.count / 2, requests.count - 1] {
            // Room for exactly one or three messages, and a byte less.
            let exact = [1, 3].filter { from + $0 <= requests.count }.map {
                batch.offsets[from + $0] - batch.offsets[from]
            }
            for limit in [1, 3, requests.count] {
                for room in [20, 150, 700, 1 << 16] + exact + exact.map({ $0 - 1 }) {
                    for acknowledge in [false, true] {
                        var ours = [UInt8](repeating: 0xAA, count: room)
                        var theirs = ours
                        let a = ours.withUnsafeMutableBytes {
                            encoded.writeRun(
                                from: from, limit: limit, into: $0, family: 0x1c, firstSequence: 41, portID: 0x1234,
                                acknowledge: acknowledge)
                        }
                        // The messages one by one, each where it fits.
                        var b = (count: 0, length: 0, lastOffset: 0)
                        theirs.withUnsafeMutableBytes { buffer in
                            while from + b.count < requests.count, b.count < limit {
                                let written = encoded.write(
                                    from + b.count, into: buffer, at: b.length, family: 0x1c,
                                    sequence: 41 + UInt32(b.count), portID: 0x1234, acknowledge: acknowledge)
                                guard let written else { break }
                                b = (b.count + 1, b.length + written, b.length)
                            }
                        }
                        let what = "from \(from) limit \(limit) room \(room) ack \(acknowledge)"
                        #expect(a.count == b.count && a.length == b.length && a.lastOffset == b.lastOffset, "\(what)")
                        #expect(ours[..<a.length] == theirs[..<b.length], "\(what)")
                        if a.count > 0 { runs += 1 }
                        guard room == 1 << 16 else { continue }
                        var libnl = [UInt8](repeating: 0xAA, count: room)
                        let c = libnl.withUnsafeMutableBytes {
                            oneByOne.writeRun(
                                from: from, limit: limit, into: $0, family: 0x1c, firstSequence: 41, portID: 0x1234,
                                acknowledge: acknowledge)
                        }
                        #expect(c.count == a.count && libnl[..<c.length] == ours[..<a.length], "\(what)")
                    }
                }
            }
        }
        #expect(runs > 50)
    }

    @Test func withoutAcknowledgementOnlyTheFlagDiffers() throws {
        var buffer = [UInt8](repeating: 0, count: 512)
        let request = IPVSRequest.newDestination(Self.servers[0], in: Self.services[1])
        let length = try #require(
            buffer.withUnsafeMutableBytes {
                IPVSMessageWriter.write(
                    request, into: $0, at: 0, family: 0x1c, sequence: 5, portID: 9, acknowledge: false)
            })
        var theirs = try request.encode(family: 0x1c, sequence: 5, portID: 9)
        #expect(UInt16(theirs[6]) | UInt16(theirs[7]) << 8 == 0x0001 | 0x0004, "NLM_F_REQUEST | NLM_F_ACK")
        theirs[6] = 0x01  // NLM_F_REQUEST alone
        #expect(Array(buffer[..<length]) == theirs)
    }

    @Test func aRequestThatDoesNotFitIsNotWritten() {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBytes {
            IPVSMessageWriter.write(
                .newDestination(Self.servers[0], in: Self.services[0]), into: $0, at: 0, family: 1, sequence: 1,
                portID: 1, acknowledge: true)
        }
        #expect(length == nil)
    }
}
