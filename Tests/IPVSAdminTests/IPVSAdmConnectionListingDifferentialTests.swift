import Foundation
import IPVSAdmin
import Testing

/// `ipvsadm -Lc`: Debian's ipvsadm reads a connection table text (Fixtures/ip_vs_conn.txt: lines captured in the VM
/// and lines written for the cases capture did not reach: SCTP, persistence engine data, a day-long expiry, a
/// template with a zero client) instead of /proc/net/ip_vs_conn, and must print what IPVSAdmConnectionListing
/// prints for the same text.
@Suite(.enabled(if: RealIpvsadm.available, "needs /usr/sbin/ipvsadm and cc"))
struct IPVSAdmConnectionListingDifferentialTests {
    static let table = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/ip_vs_conn.txt").path

    @Test(arguments: [["-Lnc"], ["-Lnc", "--persistent-conn"], ["-L", "-c", "-n", "--persistent-conn"]])
    func connectionListingMatchesIpvsadm(words: [String]) throws {
        let real = try RealIpvsadm.run(
            words, preload: try RealIpvsadm.shim(), environment: ["IPVSADM_TEST_CONN_FILE": Self.table])
        #expect(real.status == 0, "\(real)")
        let invocation = try IPVSAdmParser.parse(["ipvsadm"] + words)
        let text = try String(contentsOfFile: Self.table, encoding: .utf8)
        let ours = IPVSAdmConnectionListing(format: invocation.format, resolver: NoNames()).listing(procText: text)
        #expect(ours == real.standardOutput)
        #expect(real.standardOutput.split(separator: "\n").count == 14)
    }
}
