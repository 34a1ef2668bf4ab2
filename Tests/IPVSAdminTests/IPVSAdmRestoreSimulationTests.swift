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

    @Test("The plan describes every kind of change as ipvsadm -Sn writes its rules; line numbers count blank lines")
    func planOfEveryChange() {
        let input = """
            -A -u 10.0.0.2:53 -s sh -b sh-port -p 60 -M 255.255.255.0
            -a -u 10.0.0.2:53 -r 10.0.2.1:53 -m -w 2 -x 10 -y 5
            -A -f 7 -6 -s mh -b mh-fallback
            -a -f 7 -6 -r [2001:db8::1]:0 -g -w 3
            -A -t [2001:db8::10]:443 -s wrr -p
            -a -t [2001:db8::10]:443 -r 2001:db8::2 -i -w 4 --tun-type gue --tun-port 5000

            -E -u 10.0.0.2:53 -s rr
            -e -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 0
            -d -t 10.0.0.1:80 -r 10.0.1.2:80
            -D -u 10.0.0.2:53
            -D -f 7 -6
            -L -n
            -Z -t 10.0.0.1:80
            -Z
            --set 10 0 20
            -A -t 10.0.0.1:80 -s rr
            -a -t 10.0.0.9:80 -r 10.0.1.1:80 -m
            --start-daemon master --mcast-interface lo
            --stop-daemon master
            -C
            -A -t 10.0.0.3:8080

            """
        let s = IPVSAdmRestoreSimulation.simulate(input, program: "ipvsctl", table: Self.existing)
        #expect(s.plan() == """
            line 1: add service     -A -u 10.0.0.2:53 -s sh -p 60 -M 255.255.255.0 -b sh-port
            line 2: add server      -a -u 10.0.0.2:53 -r 10.0.2.1:53 -m -w 2
            line 3: add service     -A -f 7 -6 -s mh -b mh-fallback
            line 4: add server      -a -f 7 -6 -r [2001:db8::1]:0 -g -w 3
            line 5: add service     -A -t [2001:db8::10]:443 -s wrr -p 360
            line 6: add server      -a -t [2001:db8::10]:443 -r [2001:db8::2]:443 -i -w 4 \
            --tun-type gue --tun-port 5000 --tun-nocsum
            line 8: edit service    -E -u 10.0.0.2:53 -s rr  \
            (was: -u 10.0.0.2:53 -s sh -p 60 -M 255.255.255.0 -b sh-port)
            line 9: edit server     -e -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 0  \
            (was: -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1)
            line 10: delete server   -d -t 10.0.0.1:80 -r 10.0.1.2:80 -m -w 1
            line 11: delete service  -D -u 10.0.0.2:53  (was: -s rr, with 1 real server)
            line 12: delete service  -D -f 7 -6  (was: -s mh -b mh-fallback, with 1 real server)
            line 13: no change: a listing (not printed in a dry run)
            line 14: zero counters   TCP 10.0.0.1:80
            line 15: zero counters   of every service
            line 16: set timeouts    tcp 10 tcpfin 120 udp 20  (was: tcp 900 tcpfin 120 udp 300)
            line 17: fails (status 255): Service already exists
            line 18: fails (status 255): Service not defined
            line 19: start daemon    master on lo syncid 0
            line 20: stop daemon     master
            line 21: flush           removes 2 services and 2 real servers
            line 22: add service     -A -t 10.0.0.3:8080 -s wlc
            dry run: 18 changes, 2 failing lines, exit status 0; nothing was changed

            """)
        #expect(s.resultingRules() == "-A -t 10.0.0.3:8080 -s wlc\n")
    }

    @Test("Line numbers count every line the reader takes: blank ones, blanks only, a last line without newline")
    func lineNumbers() {
        let input = "\n-A -t 10.0.0.5:80 -s rr\n \t\r\nipvsadm\n ipvsadm -a -t 10.0.0.5:80 -r 10.0.2.1:80 -m\r\n\n"
            + "-a -t 10.0.0.9:80 -r 10.0.1.1:80 -m\n-D -t 10.0.0.5:80"
        let s = IPVSAdmRestoreSimulation.simulate(input, program: "ipvsctl", table: IPVSSimulatedTable())
        #expect(s.steps.map(\.line) == [2, 5, 7, 8])
        #expect(s.steps.map(\.status) == [0, 0, 255, 0])
        #expect(s.steps[1].words == ["-a", "-t", "10.0.0.5:80", "-r", "10.0.2.1:80", "-m"])
        #expect(s.table.services.isEmpty)
        // Two blanks after the last word of a last line without newline make ipvsadm's reader drop that line.
        let dropped = IPVSAdmRestoreSimulation.simulate(
            "-A -t 10.0.0.5:80 -s rr\n-D -t 10.0.0.5:80  ", program: "ipvsctl", table: IPVSSimulatedTable())
        #expect(dropped.steps.map(\.line) == [1])
        #expect(dropped.table.services.count == 1)
    }

    @Test("Services deleted and added among many keep the order of a list; each line finds its own service")
    func manyServicesDeletedAndAdded() {
        // A list model of the table: the services in order, and each one's servers head first.
        var model: [(key: ServiceKey, servers: [String])] = []
        var lines: [String] = []
        var generator = SplitMix(seed: 0x5eed)
        func vip(_ i: Int) -> String { "10.1.\(i / 200).\(i % 200 + 1):80" }
        func key(_ i: Int) -> ServiceKey { .address(.tcp, IPAddress(String(vip(i).dropLast(3)))!, port: 80) }
        for round in 0..<6 {
            for i in 0..<300 where Int(generator.next() % 3) != 0 || round == 0 {
                if let at = model.firstIndex(where: { $0.key == key(i) }) {
                    if generator.next() % 2 == 0 {
                        lines.append("-D -t \(vip(i))")
                        model.remove(at: at)
                    } else {
                        let server = "172.16.\(round).\(i % 250 + 1):80"
                        lines.append("-a -t \(vip(i)) -r \(server) -m -w 1")
                        model[at].servers.insert(server, at: 0)
                    }
                } else {
                    lines.append("-A -t \(vip(i)) -s rr")
                    model.append((key(i), []))
                }
            }
        }
        let s = IPVSAdmRestoreSimulation.simulate(
            lines.map { $0 + "\n" }.joined(), program: "ipvsctl", table: IPVSSimulatedTable())
        #expect(s.status == 0)
        #expect(s.standardError.isEmpty)
        #expect(s.table.services.map(\.service.key) == model.map(\.key))
        #expect(s.table.services.map { $0.destinations.map { "\($0.address):\($0.port)" } } == model.map(\.servers))
    }

    @Test("A table read twice over the same key (a dump during changes): deleting one leaves the other found")
    func repeatedKeyInTheTableGiven() {
        let table = IPVSSimulatedTable(services: [
            IPVSSimulatedTable.Service(Self.http), IPVSSimulatedTable.Service(Self.http),
        ])
        let s = IPVSAdmRestoreSimulation.simulate(
            "-D -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m\n-D -t 10.0.0.1:80\n-D -t 10.0.0.1:80\n",
            program: "ipvsctl", table: table)
        #expect(s.steps.map(\.status) == [0, 0, 0, 255])
        #expect(s.table.services.isEmpty)
    }
}
