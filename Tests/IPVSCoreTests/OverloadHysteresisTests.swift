@testable import IPVSCore
import Testing

/// The overload flag (`IP_VS_DEST_F_OVERLOAD`) as Debian's 6.1.192 kernel keeps it: ip_vs_conn.c `ip_vs_bind_dest`
/// calls `ip_vs_dest_update_overload(dest, 1)` only when `totalconns` becomes exactly `u_threshold`,
/// `ip_vs_unbind_dest` calls it with -1 only when `totalconns` was exactly `l_threshold_val` before the decrement,
/// and ip_vs_ctl.c `__ip_vs_update_dest` calls `__ip_vs_dest_update_overload(dest, 0)` when an add or edit changes
/// a threshold. Each hand case below is one where the older rule (set on every bind at or above `u`, clear on every
/// unbind below `l` or 75% of `u`, clear when `u` is raised) gives a different flag; a literal transcription of the
/// kernel's counters is also run against `ServiceScheduler` over random sequences.
@Suite("Overload flag: bind, unbind and edit hysteresis (6.1.192)")
struct OverloadHysteresisTests {
    /// lc over [B .2 (no thresholds, 100 inactive), A .1 (`upper`/`lower`)]: lc picks A unless A is flagged.
    func make(upper: UInt32, lower: UInt32 = 0) throws -> ServiceScheduler {
        var s = try ServiceScheduler(tcpService(.lc), servers: [
            server("10.0.1.1", upper: upper, lower: lower), server("10.0.1.2"),
        ])
        for _ in 0..<100 { s.connectionBound(to: s.key("10.0.1.2")) }
        return s
    }

    func a(_ s: ServiceScheduler) -> DestinationState {
        if let i = s.destinations.index(of: s.key("10.0.1.1")) { return s.destinations[i] }
        return s.trash[s.key("10.0.1.1")]!
    }

    func bind(_ s: inout ServiceScheduler, _ n: Int) { for _ in 0..<n { s.connectionBound(to: s.key("10.0.1.1")) } }

    func unbind(_ s: inout ServiceScheduler, _ n: Int) {
        for _ in 0..<n { s.connectionUnbound(from: s.key("10.0.1.1"), wasActive: false) }
    }

    @Test("Reaching u sets the flag; it stays until total drops from l_threshold_val = u - u>>2 to one below")
    func defaultHysteresis() throws {
        var s = try make(upper: 10)  // l_threshold_val = 10 - 2 = 8
        #expect(a(s).lowerThresholdValue == 8)
        bind(&s, 9)
        #expect(!a(s).overloaded && s.next() == "10.0.1.1")
        bind(&s, 1)  // totalconns == u_threshold: update_overload(+1), 10 >= 8
        #expect(a(s).overloaded && s.next() == "10.0.1.2")
        unbind(&s, 2)  // 10 → 8: the unbind from 9 is not from l_threshold_val
        #expect(a(s).overloaded)
        unbind(&s, 1)  // from 8 == l_threshold_val: update_overload(-1), 7 < u → cleared
        #expect(!a(s).overloaded && s.next() == "10.0.1.1")
        // An odd u: 7 - 7>>2 = 6.
        var t = try make(upper: 7)
        bind(&t, 7)
        unbind(&t, 1)
        #expect(a(t).lowerThresholdValue == 6 && a(t).overloaded)
        unbind(&t, 1)
        #expect(!a(t).overloaded)
    }

    @Test("Raising u keeps the flag while total is at or above the new l_threshold_val (the old rule cleared it)")
    func raisingUpperKeepsFlagInHysteresisBand() throws {
        var s = try make(upper: 10)
        bind(&s, 10)
        #expect(a(s).overloaded)
        try s.editDestination(server("10.0.1.1", upper: 12))  // l_val 9; mode 0: 10 >= 12? no, 10 >= 9: kept
        #expect(a(s).overloaded)
        #expect(s.next() == "10.0.1.2")  // the old rule would have picked .1 here
        unbind(&s, 1)  // from 10: not l_val 9
        #expect(a(s).overloaded)
        unbind(&s, 1)  // from 9 == l_val: cleared
        #expect(!a(s).overloaded && s.next() == "10.0.1.1")
        // Raised far enough that total is under the new l_val: cleared (as the old rule did).
        bind(&s, 4)  // 12 == u → set
        #expect(a(s).overloaded)
        try s.editDestination(server("10.0.1.1", upper: 20))  // l_val 15, 12 < 15
        #expect(!a(s).overloaded)
    }

    @Test("Lowering u to or below total sets the flag at once (the old rule waited for the next bind)")
    func loweringUpperSetsFlagAtOnce() throws {
        var s = try make(upper: 20)
        bind(&s, 12)
        #expect(!a(s).overloaded)
        try s.editDestination(server("10.0.1.1", upper: 10))  // mode 0: 12 >= 10
        #expect(a(s).overloaded && s.next() == "10.0.1.2")
    }

    @Test("A lower threshold raised above total clears the flag at once (the old rule waited for an unbind)")
    func raisingLowerClearsAtOnce() throws {
        var s = try make(upper: 10)
        bind(&s, 10)
        unbind(&s, 1)  // 9: in the band [8, 10), still flagged
        #expect(a(s).overloaded)
        try s.editDestination(server("10.0.1.1", upper: 10, lower: 9))  // band [9, 10): kept
        #expect(a(s).overloaded)
        try s.editDestination(server("10.0.1.1", upper: 10, lower: 10))  // 9 < 10: cleared
        #expect(!a(s).overloaded && s.next() == "10.0.1.1")
    }

    @Test("An edit that keeps both thresholds leaves the flag alone, whatever the counters")
    func editWithSameThresholdsKeepsFlag() throws {
        var s = try make(upper: 10)
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 2, overloaded: true)  // e.g. from a dump
        try s.editDestination(server("10.0.1.1", weight: 3, upper: 10))
        #expect(a(s).overloaded)
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 15, overloaded: false)
        try s.editDestination(server("10.0.1.1", weight: 2, upper: 10))
        #expect(!a(s).overloaded)
    }

    @Test("Only the bind that makes total exactly u sets the flag; binds above it do not (the old rule set it)")
    func bindAboveUpperDoesNotSet() throws {
        var s = try make(upper: 10)
        s.setCounters(of: s.key("10.0.1.1"), active: 0, inactive: 12, overloaded: false)  // as a dump may show
        bind(&s, 1)  // 13 != 10
        #expect(!a(s).overloaded)
        // Templates change persistconns only and never look at the flag.
        s.connectionBound(to: s.key("10.0.1.1"), isTemplate: true)
        #expect(!a(s).overloaded && a(s).persistentConnections == 1)
    }

    @Test("Only the unbind from exactly l_threshold_val clears the flag; unbinds below it do not (the old rule did)")
    func unbindBelowLowerDoesNotClear() throws {
        var s = try make(upper: 10)
        s.setCounters(of: s.key("10.0.1.1"), active: 1, inactive: 4, overloaded: true)  // 5 < l_val 8
        s.connectionUnbound(from: s.key("10.0.1.1"), wasActive: true)  // from 5
        #expect(a(s).overloaded && a(s).activeConnections == 0)
        s.connectionUnbound(from: s.key("10.0.1.1"), wasActive: false, isTemplate: true)
        #expect(a(s).overloaded)
        #expect(s.next() == "10.0.1.2")
        // Only a threshold change re-evaluates it: mode 0, 4 < l → cleared.
        try s.editDestination(server("10.0.1.1", upper: 10, lower: 5))
        #expect(!a(s).overloaded)
    }

    @Test("Back from the trash: same thresholds keep the flag; a raised u re-evaluates with mode 0")
    func trashRestore() throws {
        var s = try make(upper: 10)
        bind(&s, 10)
        try s.removeDestination(s.key("10.0.1.1"))
        unbind(&s, 1)  // counted in the trash: from 10, not l_val
        #expect(a(s).overloaded)
        try s.addDestination(server("10.0.1.1", upper: 10))
        #expect(a(s).overloaded && a(s).totalConnections == 9 && s.next() == "10.0.1.2")
        try s.removeDestination(s.key("10.0.1.1"))
        try s.addDestination(server("10.0.1.1", upper: 11))  // l_val 9: 9 >= 9 kept (the old rule cleared it)
        #expect(a(s).overloaded)
        // A new destination starts from zeroed thresholds, so its own thresholds count as a change: mode 0, clear.
        try s.addDestination(server("10.0.1.3", upper: 1))
        #expect(s.destinations[0].key == s.key("10.0.1.3") && !s.destinations[0].overloaded)
    }

    // MARK: - A literal transcription of the kernel's counters as the oracle

    /// `struct ip_vs_dest`'s counters and the code that changes them: ip_vs_conn.c `ip_vs_bind_dest` and
    /// `ip_vs_unbind_dest`, ip_vs_proto_tcp.c `set_tcp_state`, ip_vs_ctl.c `__ip_vs_update_dest` and
    /// `__ip_vs_dest_update_overload`. It keeps `totalconns` (not an inactive count) and a stored `l_threshold_val`,
    /// as the kernel does.
    struct KernelDest {
        var activeconns: Int32 = 0
        var totalconns: Int32 = 0
        var persistconns: Int32 = 0
        var overload = false
        var uThreshold: UInt32 = 0
        var lThreshold: UInt32 = 0
        var lThresholdVal: UInt32 = 0

        mutating func updateOverload(mode: Int) {
            let u = uThreshold
            if u == 0 {
                overload = false
                return
            }
            let l = lThresholdVal
            let conns = totalconns
            if UInt32(bitPattern: conns) >= (mode > 0 ? l : u) {  // int vs u32: compared as unsigned
                overload = true
                return
            }
            if UInt32(bitPattern: conns) >= (mode < 0 ? u : l) { return }
            overload = false
        }

        mutating func update(upper: UInt32, lower: UInt32) {
            if uThreshold != upper || lThreshold != lower {
                uThreshold = upper
                lThreshold = lower
                lThresholdVal = lower != 0 ? lower : upper - (upper >> 2)
                updateOverload(mode: 0)
            }
        }

        mutating func bind(template: Bool) {
            if template {
                persistconns += 1
                return
            }
            totalconns += 1  // new connections carry IP_VS_CONN_F_INACTIVE
            let tc = totalconns
            if UInt32(bitPattern: tc) == uThreshold { updateOverload(mode: 1) }
        }

        mutating func unbind(template: Bool, active: Bool) {
            if template {
                persistconns -= 1
                return
            }
            if active { activeconns -= 1 }
            let tc = totalconns
            totalconns -= 1
            if UInt32(bitPattern: tc) == lThresholdVal { updateOverload(mode: -1) }
        }
    }

    @Test("The flag and counters follow the kernel's code over random binds, unbinds, state changes, edits, trash",
          arguments: [UInt64(1), 2, 3, 4])
    func matchesKernelTranscription(seed: UInt64) throws {
        var rng = SplitMix(seed: 0x0f10_ad00 &+ seed)
        let ips = ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
        func thresholds() -> (UInt32, UInt32) {
            let u = UInt32(rng.next(below: 14))
            return (u, rng.next(below: 3) == 0 ? UInt32(rng.next(below: Int(u) + 1)) : 0)
        }
        var model: [String: KernelDest] = [:]
        var servers: [RealServer] = []
        for ip in ips {
            let (u, l) = thresholds()
            var k = KernelDest()
            k.update(upper: u, lower: l)  // ip_vs_new_dest: kzalloc'd, then __ip_vs_update_dest
            model[ip] = k
            servers.append(server(ip, upper: u, lower: l))
        }
        var s = try ServiceScheduler(tcpService(.wlc), servers: servers)
        for step in 0..<4000 {
            let ip = ips[rng.next(below: ips.count)]
            let key = s.key(ip)
            var k = model[ip]!
            let inList = s.destinations.index(of: key) != nil
            let inactive = k.totalconns - k.activeconns
            switch rng.next(below: 21) {
            case 0..<6:
                k.bind(template: false)
                s.connectionBound(to: key)
            case 6..<13 where k.totalconns > 0:
                let active = inactive == 0 || (k.activeconns > 0 && rng.next(below: 2) == 0)
                k.unbind(template: false, active: active)
                s.connectionUnbound(from: key, wasActive: active)
            case 13 where inactive > 0:
                k.activeconns += 1
                s.connectionChangedActivity(on: key, nowActive: true)
            case 14 where k.activeconns > 0:
                k.activeconns -= 1
                s.connectionChangedActivity(on: key, nowActive: false)
            case 15:
                k.bind(template: true)
                s.connectionBound(to: key, isTemplate: true)
            case 16 where k.persistconns > 0:
                k.unbind(template: true, active: false)
                s.connectionUnbound(from: key, wasActive: false, isTemplate: true)
            case 17...18 where inList:
                // Either the same thresholds (weight edit only) or new ones.
                let (u, l) = rng.next(below: 3) == 0 ? (k.uThreshold, k.lThreshold) : thresholds()
                k.update(upper: u, lower: l)
                try s.editDestination(server(ip, weight: Int32(rng.next(below: 4)), upper: u, lower: l))
            case 19 where inList && s.destinations.count > 1:
                try s.removeDestination(key)
            case 20 where !inList:
                let (u, l) = rng.next(below: 2) == 0 ? (k.uThreshold, k.lThreshold) : thresholds()
                k.update(upper: u, lower: l)
                try s.addDestination(server(ip, upper: u, lower: l))
            default:
                break
            }
            model[ip] = k
            for other in ips {
                let m = model[other]!
                let d = s.destinations.index(of: s.key(other)).map { s.destinations[$0] } ?? s.trash[s.key(other)]!
                let same = d.overloaded == m.overload && d.activeConnections == m.activeconns
                    && d.totalConnections == Int64(m.totalconns) && d.persistentConnections == m.persistconns
                    && d.lowerThresholdValue == m.lThresholdVal
                #expect(same, "seed \(seed) step \(step) \(other): \(d) vs \(m)")
                if !same { return }
            }
        }
    }
}
