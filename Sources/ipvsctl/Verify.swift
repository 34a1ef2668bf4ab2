import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink
import IPVSTap
import Synchronization

/// `ipvsctl verify`: captures the traffic of virtual services (live, or from a pcap file), and checks every new
/// connection the kernel balanced against IPVSCore's prediction for the kernel's table (IPVSTap `Verifier`). Its
/// command line (options, usage) is ``IPVSCtlVerifyCommand`` in IPVSAdmin, which the man page and completions read.
///
/// Exit status: 0 when every connection checked agreed (and at least one was), 1 when one did not or none could be
/// checked, 2 for a wrong command line or a failure (capture, table).
typealias VerifyCommand = IPVSCtlVerifyCommand

/// Ctrl-C ends a live capture with a report instead of killing it.
private let interrupted = Atomic<Bool>(false)

extension Session {
    /// `ipvsctl verify …`, its command line parsed already (before the kernel is opened: IPVSCtl.run).
    mutating func verify(_ command: VerifyCommand) -> Int32 {
        do {
            return try runVerify(command)
        } catch {
            output.flush()
            output.error("ipvsctl verify: \(error)\n")
            return 2
        }
    }

    private mutating func readTable(_ wanted: [ServiceKey]) throws -> [ServiceSnapshot] {
        var table: [ServiceSnapshot] = []
        for entry in try handle.services() where wanted.isEmpty || wanted.contains(entry.service.key) {
            let destinations = try handle.destinations(of: entry.service).map { d in
                DestinationState(d.server, activeConnections: Int32(clamping: d.activeConnections),
                                 inactiveConnections: Int32(clamping: d.inactiveConnections),
                                 persistentConnections: Int32(clamping: d.persistentConnections))
            }
            table.append(ServiceSnapshot(service: entry.service, destinations: destinations))
        }
        return table
    }

    private mutating func runVerify(_ command: VerifyCommand) throws -> Int32 {
        var table = try readTable(command.services)
        for key in command.services where !table.contains(where: { $0.service.key == key }) {
            output.error("ipvsctl verify: no service \(key) in the kernel's table\n")
            return 2
        }
        guard !table.isEmpty else {
            output.error("ipvsctl verify: the kernel's table has no service to verify\n")
            return 2
        }
        if command.readFile != nil && !command.kernelCounters { table = table.map(\.withZeroCounters) }

        let kernelTimeouts = try handle.timeouts()
        var timeouts = ProtocolTimeouts()
        try timeouts.set(tcp: kernelTimeouts.tcp, tcpFin: kernelTimeouts.tcpFin, udp: kernelTimeouts.udp)
        let lifecycle: ConnectionLifecycle
        switch command.lifecycle {
        case "inactive": lifecycle = .inactiveUntilEnd
        case "active": lifecycle = .activeUntilEnd
        default: lifecycle = .tracked(timeouts)
        }
        let settings = PersistenceSettings(expireQuiescentTemplate: Self.sysctl("expire_quiescent_template") == 1)
        let options = VerifierOptions(lifecycle: lifecycle, persistence: settings,
                                      recordEveryConnection: command.json)
        var feed = VerifierFeed(try Verifier(table: table, options: options),
                                lagNanoseconds: UInt64(command.lagSeconds * 1e9))
        let watched = table.map { WatchedService($0.service, realServers: $0.destinations.map(\.server)) }
        var tap = Tap(services: watched)

        let pcap: PcapHandle
        if let file = command.readFile {
            pcap = try PcapHandle.open(file: file)
        } else {
            pcap = try PcapHandle.capture(interface: command.interface!)
            try pcap.setFilter(CaptureFilter.expression(for: watched))
            signal(SIGINT) { _ in interrupted.store(true, ordering: .relaxed) }
            output.error("ipvsctl verify: capturing on \(command.interface!) for \(table.count) service(s)"
                         + (command.count.map { ", until \($0) new connections" } ?? "")
                         + (command.duration.map { ", for \($0) s" } ?? "") + "\n")
        }
        let live = command.interface != nil
        var frames = 0
        var tableChanges = 0
        if live {
            let started = CaptureTime.now()
            let deadline = command.duration.map { CaptureTime(nanoseconds: started.nanoseconds + UInt64($0 * 1e9)) }
            var lastTableRead = started
            // The handle waits at most its read timeout (100 ms) for a packet: `wake` runs at least that often, with
            // traffic or none, so --duration, --count and Ctrl-C end an idle capture too.
            let run = try tap.runLive(pcap, deadline: deadline, connections: command.count) { event, time, tracker in
                feed.take(event, at: time, from: tracker)
            } wake: { now, tracker in
                if interrupted.load(ordering: .relaxed) { return true }
                feed.idle(until: now, tracker: tracker)
                // The live table, once a second: its changes apply from the time they were seen.
                if now.nanoseconds >= lastTableRead.nanoseconds + 1_000_000_000 {
                    let current = try readTable(command.services)
                    for change in TableChange.changes(from: table, to: current) {
                        // The tracker follows what was added, so that copies to a new real server pair.
                        switch change {
                        case .addService(let service): tracker.watch(WatchedService(service, realServers: []))
                        case .addDestination(let key, let server): tracker.watch(server, of: key)
                        default: break
                        }
                        feed.apply(change, at: now, tracker: tracker)
                        tableChanges += 1
                    }
                    table = current
                    lastTableRead = now
                }
                return false
            }
            frames = run.frames
            // After --count: the last connections' forwarded copies follow their first packet; read on for up to the
            // lag, passing on everything but further new connections.
            if run.end == .connections {
                let until = CaptureTime(nanoseconds: CaptureTime.now().nanoseconds + UInt64(command.lagSeconds * 1e9))
                frames += try tap.runLive(pcap, deadline: until) { event, time, tracker in
                    if case .opened = event { return }
                    feed.take(event, at: time, from: tracker)
                } wake: { _, _ in interrupted.load(ordering: .relaxed) }.frames
            }
        } else {
            let linkType = pcap.linkType
            while case .packet(let record) = try pcap.next() {
                frames += 1
                let event = tap.process(record.data, linkType: linkType, at: record.time)
                if event != .none { feed.take(event, at: record.time, from: tap.tracker) }
            }
        }
        feed.finish(tap.tracker)
        let report = feed.report()
        if command.json {
            output.out(report.json())
        } else {
            let s = tap.tracker.statistics
            let dropped = pcap.kernelStatistics()?.dropped ?? 0
            output.out("Capture: \(frames) frames\(live ? ", \(dropped) dropped by the kernel" : ""), "
                       + "\(s.newConnections) new connections, \(s.forwardedPackets) forwarded copies"
                       + (s.unmatchedForwarded > 0 ? ", \(s.unmatchedForwarded) copies to no known real server" : "")
                       + (tableChanges > 0 ? ", \(tableChanges) table changes" : "") + "\n")
            for refused in feed.refusedChanges { output.out("Table change not applied: \(refused)\n") }
            output.out(report.text())
        }
        return report.passed ? 0 : 1
    }

    /// /proc/sys/net/ipv4/vs/NAME of this network namespace, or nil.
    private static func sysctl(_ name: String) -> Int? {
        guard let f = fopen("/proc/sys/net/ipv4/vs/\(name)", "r") else { return nil }
        defer { fclose(f) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = fread(&buffer, 1, buffer.count, f)
        return Int(String(decoding: buffer[..<n], as: UTF8.self).filter { $0.isNumber })
    }
}
