import IPVSAdmin
import Testing

/// ipvsctl's own options are taken out of the command line before ipvsadm's parser reads it: a line without them
/// reaches the parser unchanged (so every ipvsadm behaviour stays), a line with them loses exactly them.
struct IPVSCtlExtensionsTests {
    static func extract(_ words: [String]) throws(IPVSAdmExit) -> (IPVSCtlExtensions, [String]) {
        try IPVSCtlExtensions.extract(["ipvsctl"] + words)
    }

    @Test func everyIpvsadmCommandLineReachesTheParserUnchanged() throws {
        var count = 0
        for words in IPVSAdmCommandLines.all {
            let (found, rest) = try Self.extract(words)
            #expect(rest == ["ipvsctl"] + words, "\(words)")
            #expect(found == IPVSCtlExtensions(), "\(words)")
            count += 1
        }
        #expect(count > 300)
    }

    @Test func theExtensionsAreTakenOutWhereverTheyAre() throws {
        let (a, restA) = try Self.extract(["-Ln", "--json", "--stats", "--netns", "blue"])
        #expect(a.json && a.networkNamespace == "blue")
        #expect(restA == ["ipvsctl", "-Ln", "--stats"])
        let (b, restB) = try Self.extract(["--netns=/proc/1/ns/net", "-A", "-t", "10.0.0.1:80"])
        #expect(!b.json && b.networkNamespace == "/proc/1/ns/net")
        #expect(restB == ["ipvsctl", "-A", "-t", "10.0.0.1:80"])
        // Only --json alone: list everything as JSON.
        let (c, restC) = try Self.extract(["--json"])
        #expect(c.json && restC == ["ipvsctl"])
        // After `--` every word is ipvsadm's (a leftover).
        let (d, restD) = try Self.extract(["-L", "--", "--json"])
        #expect(!d.json && restD == ["ipvsctl", "-L", "--", "--json"])
        // A word that only starts like one is ipvsadm's.
        let (_, restE) = try Self.extract(["-L", "--jsonx", "--netnsy"])
        #expect(restE == ["ipvsctl", "-L", "--jsonx", "--netnsy"])
        let (f, _) = try Self.extract(["--generate-completion-script=fish"])
        #expect(f.completionShell == .fish && f.printsDocumentation)
    }

    @Test func predictKeepsItsOwnJSONOption() throws {
        let (found, rest) = try Self.extract(["--netns", "red", "predict", "-t", "10.0.0.1:80", "--json", "--client",
                                              "10.1.1.1"])
        #expect(!found.json && found.networkNamespace == "red")
        #expect(rest == ["ipvsctl", "predict", "-t", "10.0.0.1:80", "--json", "--client", "10.1.1.1"])
    }

    @Test func badExtensionOptionsFailWithStatus2AndAMessage() {
        let cases: [([String], String)] = [
            (["-L", "--netns"], "ipvsctl: --netns needs a name argument\n"),
            (["-L", "--netns="], "ipvsctl: --netns needs a network namespace name\n"),
            (["-L", "--json", "--json"], "ipvsctl: multiple '--json' options specified\n"),
            (["-L", "--json=yes"], "ipvsctl: --json takes no argument\n"),
            (["--generate-completion-script", "tcsh"],
             "ipvsctl: --generate-completion-script: unknown shell `tcsh' (bash, zsh or fish)\n"),
            (["--generate-manual", "-L"], "ipvsctl: --generate-manual takes no other option\n"),
            (["--help-extensions", "--json"], "ipvsctl: --help-extensions takes no other option\n"),
        ]
        for (words, message) in cases {
            do throws(IPVSAdmExit) {
                _ = try Self.extract(words)
                Issue.record("\(words) accepted")
            } catch {
                #expect(error.status == 2 && error.standardError == message && error.standardOutput.isEmpty, "\(words)")
            }
        }
    }

    @Test func jsonAppliesToListingsOnly() throws {
        for (words, allowed) in [(["-Ln"], true), (["-Sn"], true), (["-L", "--timeout"], true), (["-C"], false),
                                 (["-A", "-t", "10.0.0.1:80"], false), (["-R"], false), (["-Z"], false)] {
            let invocation = try IPVSAdmParser.parse(["ipvsctl"] + words)
            let violation = IPVSCtlExtensions.jsonViolation(invocation)
            #expect((violation == nil) == allowed, "\(words): \(violation ?? "")")
        }
    }
}
