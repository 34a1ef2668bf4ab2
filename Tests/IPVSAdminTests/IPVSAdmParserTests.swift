import IPVSAdmin
import IPVSCore
import Testing

/// What ipvsadm's command line sets, field by field (the differential test proves which lines are refused; these
/// prove what accepted lines mean).
struct IPVSAdmParserTests {
    func parse(_ line: String) throws -> IPVSAdmInvocation {
        try IPVSAdmParser.parse(["ipvsadm"] + line.split(separator: " ").map(String.init))
    }

    /// ipvsadm 1.31 in the kernel VM: `-A -t 1.2.3.4:80 -p` and `-A -t 1.2.3.5:80 -p -s rr` list as
    /// "persistent 360" (its usage text says 300).
    @Test func persistenceWithoutAValueIsSixMinutesAsIpvsadmSetsIt() throws {
        let a = try parse("-A -t 10.0.0.1:80 -p -s rr")
        #expect(a.service.flags.contains(.persistent))
        #expect(a.service.timeout == 360)
        let end = try parse("-A -t 10.0.0.1:80 -s rr -p")
        #expect(end.service.timeout == 360)
        #expect(a.service.schedulerName == "rr")
        let b = try parse("-A -t 10.0.0.1:80 -p60")
        #expect(b.service.timeout == 60)
        #expect(b.service.schedulerName == "wlc")  // the default
    }

    @Test func serverWithoutAPortTakesTheServicePortAndRouteKeepsIt() throws {
        let masq = try parse("-a -t 10.0.0.1:80 -r 10.0.0.2 -m")
        #expect(masq.server.port == 80)
        #expect(masq.server.forwarding == .masquerade)
        let routed = try parse("-a -t 10.0.0.1:80 -r 10.0.0.2:8080")
        #expect(routed.server.port == 80)  // -g (the default) cannot change the port
        #expect(routed.server.forwarding == .route)
        let masqPort = try parse("-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 7 -x 9 -y 3")
        #expect(masqPort.server.port == 8080)
        #expect(masqPort.server.weight == 7)
        #expect(masqPort.server.upperThreshold == 9 && masqPort.server.lowerThreshold == 3)
    }

    @Test func namesAndOddNumbersAreReadAsTheCLibraryReadsThem() throws {
        let a = try parse("-A -t 10.1:http")
        #expect(a.service.address == IPAddress("10.0.0.1"))
        #expect(a.service.port == 80)
        #expect(a.service.ipProtocol == 6)
        let b = try parse("-A -u 0x7f.1:+53")
        #expect(b.service.address == IPAddress("127.0.0.1"))
        #expect(b.service.port == 53)
    }

    @Test func netmasksFollowTheFamilyReadSoFar() throws {
        let v4 = try parse("-A -t 10.0.0.1:80 -p -M 255.255.255.0")
        #expect(v4.service.netmask == 0xffff_ff00)
        let v6 = try parse("-A -t [2001:db8::1]:80 -p -M 64")
        #expect(v6.service.netmask == 64)
        #expect(v6.service.family == .inet6)
        let mark = try parse("-A -f 4294967295 -6 -p")
        #expect(mark.service.firewallMark == UInt32.max)
        #expect(mark.service.family == .inet6 && mark.service.netmask == 128)
    }

    @Test func schedulerFlagsAndTunnelsAreSet() throws {
        let a = try parse("-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port")
        #expect(a.service.flags == [.mhFallback, .mhPort])
        let b = try parse("-a -t 10.0.0.1:80 -r 2001:db8::2 -i --tun-type gue --tun-port 6080 --tun-remcsum")
        #expect(b.server.tunnelType == 1 && b.server.tunnelPort == 6080 && b.server.tunnelFlags == 2)
        #expect(b.server.family == .inet6 && b.service.family == .inet)
    }

    @Test func listingFlagsBecomeTheFormat() throws {
        #expect(try parse("-Lnc").options.contains(.connection))
        #expect(try parse("-Ln --stats --exact --nosort").format == [.numeric, .stats, .exact, .noSort])
        #expect(try parse("-Sn").format == [.numeric, .rule])
        #expect(try parse("--set 900 120 300").timeouts == (900, 120, 300))
    }

    @Test func aRestoreInsideARestoreIsRefused() throws {
        #expect(throws: IPVSAdmExit.tryHelp("ipvsadm")) { try IPVSAdmParser.parse(["ipvsadm", "-R"], readingRestore: true) }
        #expect(try IPVSAdmParser.parse(["ipvsadm", "-R"]).command == .restore)
    }

    @Test func posixlyCorrectStopsAtTheFirstWordThatIsNotAnOption() throws {
        // popt with POSIXLY_CORRECT: "foo" ends the options, so -n is a leftover and ipvsadm complains about foo.
        #expect(throws: IPVSAdmExit.fail("unexpected argument foo")) {
            try IPVSAdmParser.parse(["ipvsadm", "-L", "foo", "-n"], posixlyCorrect: true)
        }
        #expect(try IPVSAdmParser.parse(["ipvsadm", "-L", "-n"], posixlyCorrect: true).format == .numeric)
    }
}

/// `ipvsadm -R`'s reader (config_stream.c), quirks included.
struct IPVSAdmRestoreReaderTests {
    func lines(_ text: String) -> [[String]] {
        var reader = IPVSAdmRestoreReader(text)
        var out: [[String]] = []
        while let line = reader.nextLine() { out.append(line) }
        return out
    }

    @Test func wordsAreSplitOnBlanksAndTheWordIpvsadmIsDropped() {
        #expect(
            lines("-A -t 10.0.0.1:80  -s\trr\r\nipvsadm -C\n\n   \n-Sn")
                == [["-A", "-t", "10.0.0.1:80", "-s", "rr"], ["-C"], [], [], ["-Sn"]])
    }

    @Test func hashStartsNoCommentAndTrailingBlanksDropTheLastLine() {
        #expect(lines("-L # list\n") == [["-L", "#", "list"]])
        #expect(lines("-C\n-L   ") == [["-C"]])
        #expect(lines("") == [])
    }
}
