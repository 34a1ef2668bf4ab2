import IPVSAdmin
import IPVSCore
import IPVSNetlink
import Testing

/// `ipvsctl -R --dry-run` over a table value: each line applied in order to a copy, with ipvsadm's message and
/// status for what the kernel would refuse.
@Suite("ipvsctl -R --dry-run simulation")
struct IPVSAdmRestoreSimulationTests {
    static let http = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .rr)
    static let existing = IPVSSimulatedTable(services: [
        IPVSSimulatedTable.Service(http, destinations: [
            RealServer(IPAddress("10.0.1.2")!, port: 80, forwarding: .masquerade, weight: 1),
            RealServer(IPAddress("10.0.1.1")!, port: 80, forwarding: .masquerade, weight: 1),
        ])
    ])

    func simulate(_ lines: [String], _ table: IPVSSimulatedTable = existing) -> IPVSAdmRestoreSimulation {
        IPVSAdmRestoreSimulation.simulate(lines.map { $0 + "\n" }.joined(), program: "ipvsctl", table: table)
    }

    @Test("Adds and deletions change the copy in kernel list order; the original table value is untouched")
    func changes() {
        let s = simulate([
            "-A -u 10.0.0.2:53 -s sh -b sh-port",
            "-a -u 10.0.0.2:53 -r 10.0.2.1:53 -m -w 2",
            "-a -u 10.0.0.2:53 -r 10.0.2.2:53 -m -w 3",
            "-d -t 10.0.0.1:80 -r 10.0.1.2:80",
            "-e -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 5 -x 10 -y 4",
        ])
        #expect(s.status == 0)
        #expect(s.standardError.isEmpty)
        #expect(s.steps.map(\.line) == [1, 2, 3, 4, 5])
        let dns = s.table.byKey[.address(.udp, IPAddress("10.0.0.2")!, port: 53)]
        #expect(dns?.service.scheduler == .sh)
        #expect(dns?.service.flags == .shPort)
        #expect(dns?.destinations.map(\.address.description) == ["10.0.2.2", "10.0.2.1"])  // head first
        let web = s.table.byKey[Self.http.key]
        #expect(web?.destinations.map(\.address.description) == ["10.0.1.1"])
        #expect(web?.destinations.first?.weight == 5)
        #expect(web?.destinations.first?.upperThreshold == 10)
        #expect(Self.existing.services[0].destinations.count == 2)
        #expect(s.plan().contains("line 4: delete server   -d -t 10.0.0.1:80 -r 10.0.1.2:80"))
    }

    @Test("What the kernel would refuse fails with ipvsadm's message and status 255, computed from the copy")
    func refusals() {
        let s = simulate([
            "-A -t 10.0.0.1:80 -s wlc",  // exists
            "-d -t 10.0.0.1:80 -r 10.0.1.9:80",  // no such destination
            "-a -t 10.0.0.9:80 -r 10.0.1.1:80 -m",  // no such service
            "-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m",  // exists
            "-E -t 10.0.0.1:80 -s nosuch",  // scheduler
            "-a -t 10.0.0.1:80 -r 224.0.0.1:80 -m",  // not unicast
            "-a -t 10.0.0.1:80 -r 10.0.1.3:80 -m -x 5 -y 10",  // l > u
            "-D -t 10.0.0.1:80",
            "-D -t 10.0.0.1:80",  // deleted on the line before
            "-A -t 10.0.0.1:80 -s wlc",  // now it can be added
        ])
        #expect(s.steps.map(\.status) == [255, 255, 255, 255, 255, 255, 255, 0, 255, 0])
        #expect(s.standardError == """
            Service already exists
            No such destination
            Service not defined
            Destination already exists
            Scheduler or persistence engine not found
            Invalid operation.  Possibly wrong module version, address not unicast, ...
            Numerical result out of range
            No such service

            """)
        #expect(s.status == 0)  // the last line's
        #expect(s.table.byKey[Self.http.key]?.service.scheduler == .wlc)
        #expect(s.table.byKey[Self.http.key]?.destinations.isEmpty == true)
    }

    @Test("A refused command line is printed as -R prints it; one that ends the process ends the simulation")
    func parseErrors() {
        let s = simulate(["-A -t 10.0.0.5:80 -s rr", "-a -t 10.0.0.5:80 -r", "-A -t 10.0.0.6:80 -s rr"])
        #expect(s.steps.count >= 2)
        #expect(s.steps[1].status != 0)
        #expect(!s.standardError.isEmpty)
        if let end = s.endedAt {
            #expect(end == 2)
            #expect(s.table.byKey[.address(.tcp, IPAddress("10.0.0.6")!, port: 80)] == nil)
        } else {
            #expect(s.table.byKey[.address(.tcp, IPAddress("10.0.0.6")!, port: 80)] != nil)
        }
    }

    @Test("-C empties the copy; --set keeps a timeout given as 0; daemons start once")
    func flushTimeoutsDaemons() {
        let s = simulate(["-C", "--set 100 0 50", "--start-daemon master --mcast-interface lo",
                          "--start-daemon master --mcast-interface lo", "--stop-daemon backup"])
        #expect(s.table.services.isEmpty)
        #expect(s.table.timeouts == IPVSTimeouts(tcp: 100, tcpFin: 120, udp: 50))
        #expect(s.table.daemons.map(\.role) == [.master])
        #expect(s.steps.map(\.status) == [0, 0, 0, 255, 255])
        #expect(s.standardError == "Daemon has already run\nNo daemon is running\n")
        #expect(s.plan().contains("line 1: flush           removes 1 service and 2 real servers"))
    }

    @Test("The resulting table is printed as ipvsadm -Sn lists it: services sorted, persistence and flags shown")
    func resultingRules() {
        let s = simulate(["-A -u 10.0.0.2:53 -s sh -b sh-port -p 60", "-a -u 10.0.0.2:53 -r 10.0.2.1:53 -m -w 2",
                          "-d -t 10.0.0.1:80 -r 10.0.1.2:80"])
        #expect(s.resultingRules() == """
            -A -t 10.0.0.1:80 -s rr
            -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1
            -A -u 10.0.0.2:53 -s sh -p 60 -b sh-port
            -a -u 10.0.0.2:53 -r 10.0.2.1:53 -m -w 2

            """)
    }
}
