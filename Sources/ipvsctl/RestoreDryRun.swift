import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

extension Session {
    /// `ipvsctl -R --dry-run`: reads stdin as -R does, simulates every line against a copy of the live table
    /// (`IPVSAdmRestoreSimulation`), prints the plan on stdout and, on stderr, exactly what -R would print for the
    /// lines that fail; returns the status -R would return. Nothing is sent to the kernel but reads.
    mutating func restoreDryRun(program: String) -> Int32 {
        let input = Self.standardInput()
        let table: IPVSSimulatedTable
        do throws(IPVSError) { table = try liveTable() } catch {
            fail(IPVSAdmErrorText.message(.getServices, error))
        }
        let simulation = IPVSAdmRestoreSimulation.simulate(
            String(decoding: input, as: UTF8.self), program: program, table: table,
            posixlyCorrect: Self.posixlyCorrect,
            interfaceExists: { if_nametoindex($0) != 0 }, acceptsDestination: Self.destinationAcceptor())
        output.out(simulation.standardOutput)
        output.out(simulation.plan(resolver: resolver))
        output.out("table after the restore (as ipvsadm -Sn would list it):\n")
        output.out(simulation.resultingRules(resolver: resolver))
        output.flush()
        if !simulation.standardError.isEmpty { output.error(simulation.standardError) }
        return simulation.status
    }

    /// What ip_vs_ctl.c `ip_vs_new_dest` accepts in this namespace: for IPv4, `inet_addr_type` looks the address up
    /// in the local routing table, which exists once an IPv4 address was configured (none: every address is
    /// "broadcast" and refused), and refuses the interfaces' broadcast addresses; the rest is `isUnicast`.
    static func destinationAcceptor() -> (IPAddress) -> Bool {
        var hasIPv4 = false
        var broadcasts = Set<UInt32>()
        var list: UnsafeMutablePointer<ifaddrs>? = nil
        if getifaddrs(&list) == 0 {
            var p = list
            while let a = p {
                if let sa = a.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) {
                    hasIPv4 = true
                    if a.pointee.ifa_flags & UInt32(IFF_BROADCAST) != 0,
                        let b = a.pointee.ifa_ifu.ifu_broadaddr
                    {
                        _ = b.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            broadcasts.insert(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
                        }
                    }
                }
                p = a.pointee.ifa_next
            }
            freeifaddrs(list)
        } else {
            hasIPv4 = true  // unknown: assume the usual case
        }
        return { address in
            if case .v4(let a) = address, !hasIPv4 || broadcasts.contains(a.value) { return false }
            return IPVSAdmRestoreSimulation.isUnicast(address)
        }
    }

    /// The live configuration: services with their destinations in kernel list order, timeouts, daemons. The
    /// destinations are read as `-L` reads them, two services' dumps at a time (``IPVSDestinationReader``).
    mutating func liveTable() throws(IPVSError) -> IPVSSimulatedTable {
        let entries = try handle.services(readsStatistics: false)
        let reader = try IPVSDestinationReader(familyID: handle.familyID, readsStatistics: false)
        let (dumped, error) = reader.destinations(of: entries.map(\.service))
        if let error { throw error }
        let services = zip(entries, dumped).map { entry, destinations in
            IPVSSimulatedTable.Service(entry.service, destinations: destinations.map(\.server))
        }
        return IPVSSimulatedTable(services: services, timeouts: try handle.timeouts(), daemons: try handle.daemons())
    }
}

extension Session {
    /// `--dry-run` (taken out of the command line by `IPVSCtlExtensions`) is for -R only, and prints text.
    mutating func dryRun(_ arguments: [String], json: Bool) -> Int32 {
        // A refused command line gets the same refusal as without --dry-run.
        let (parsed, status) = parse(arguments, readingRestore: false)
        guard let invocation = parsed else { return status }
        guard invocation.command == .restore else {
            output.error("ipvsctl: --dry-run applies to -R (--restore) only, not to the '\(invocation.command.name)' "
                         + "command\n")
            return 2
        }
        if json {
            output.error("ipvsctl: --json applies to listings (-L/-l, -S) only, not to -R --dry-run\n")
            return 2
        }
        return restoreDryRun(program: arguments[0])
    }
}
