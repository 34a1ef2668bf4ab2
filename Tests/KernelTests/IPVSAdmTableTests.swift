import Testing

/// ipvsadm's add, edit, delete and list against the kernel's table, in a namespace of the test's own (IPVS keeps a
/// table per network namespace). Expected listings are the kernel's, byte for byte: trailing spaces are real.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSAdmTableTests {
    static let header = """
        IP Virtual Server version 1.2.1 (size=4096)
        Prot LocalAddress:Port Scheduler Flags
          -> RemoteAddress:Port           Forward Weight ActiveConn InActConn

        """

    @Test func newNamespaceListsAnEmptyTable() throws {
        let namespace = try NetworkNamespace("table")
        #expect(try namespace.ipvsadm("-Ln") == Self.header)
    }

    @Test func addedServiceAndRealServersAreListed() throws {
        let namespace = try NetworkNamespace("table")
        try namespace.ipvsadm("-A", "-t", "10.0.0.1:80", "-s", "wlc")
        try namespace.ipvsadm("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.2:80", "-m", "-w", "3")
        try namespace.ipvsadm("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.3:8080", "-m", "-w", "1")
        try namespace.ipvsadm("-A", "-u", "10.0.0.1:53", "-s", "rr", "-p", "300")
        try namespace.ipvsadm("-a", "-u", "10.0.0.1:53", "-r", "10.0.1.4:53", "-g")

        #expect(
            try namespace.ipvsadm("-Ln") == Self.header + """
                TCP  10.0.0.1:80 wlc
                  -> 10.0.1.2:80                  Masq    3      0          0         \n\
                  -> 10.0.1.3:8080                Masq    1      0          0         \n\
                UDP  10.0.0.1:53 rr persistent 300
                  -> 10.0.1.4:53                  Route   1      0          0         \n
                """)
    }

    @Test func editedAndDeletedEntriesLeaveTheTable() throws {
        let namespace = try NetworkNamespace("table")
        try namespace.ipvsadm("-A", "-t", "10.0.0.1:80", "-s", "rr")
        try namespace.ipvsadm("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.2:80", "-m", "-w", "3")
        try namespace.ipvsadm("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.3:80", "-m")
        try namespace.ipvsadm("-e", "-t", "10.0.0.1:80", "-r", "10.0.1.2:80", "-m", "-w", "7")
        try namespace.ipvsadm("-d", "-t", "10.0.0.1:80", "-r", "10.0.1.3:80")

        #expect(
            try namespace.ipvsadm("-Ln") == Self.header + """
                TCP  10.0.0.1:80 rr
                  -> 10.0.1.2:80                  Masq    7      0          0         \n
                """)

        try namespace.ipvsadm("-D", "-t", "10.0.0.1:80")
        #expect(try namespace.ipvsadm("-Ln") == Self.header)
    }

    @Test func duplicateServiceIsRefused() throws {
        let namespace = try NetworkNamespace("table")
        try namespace.ipvsadm("-A", "-t", "10.0.0.1:80", "-s", "rr")
        let again = try namespace.run(Tool.ipvsadm, ["-A", "-t", "10.0.0.1:80", "-s", "rr"])
        #expect(again.status != 0)
        #expect(again.standardError.contains("Service already exists"), "\(again)")
    }
}
