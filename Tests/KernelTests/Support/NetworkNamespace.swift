import Foundation
import Glibc

/// A network namespace made for one test; deleted when the last reference goes.
///
/// IPVS keeps one table per network namespace, so a test that works in its own namespaces sees only its own
/// services and connections and can run in parallel with the others.
///
/// Every process costs a lot in the emulated VM (a few hundred milliseconds of CPU for a dynamically linked tool),
/// so the helpers here start as few as they can: `ip -batch` for several changes at once, `nsenter --net` rather
/// than `ip netns exec` to run a command inside (only the network namespace changes, which is all these tests
/// need: sockets, netlink, /proc/net and /proc/sys/net follow it), and no process at all to delete.
final class NetworkNamespace: Sendable {
    let name: String

    /// Creates `kt-ROLE-RANDOM` with its loopback up; the random part keeps tests that run at once apart.
    convenience init(_ role: String) throws {
        try self.init(name: Self.uniqueName(role))
        try ip(batch: ["link set lo up"])
    }

    private init(name: String) throws {
        self.name = name
        try Command.check(Tool.ip, ["netns", "add", name])
    }

    private init(created name: String) {
        self.name = name
    }

    /// Creates one namespace per role with a single `ip` process. Their loopbacks are down: bring them up in the
    /// batch that configures each (`"link set lo up"`).
    static func create(_ roles: [String]) throws -> [NetworkNamespace] {
        let names = roles.map(uniqueName)
        try Command.check(Tool.ip, ["-batch", "-"], input: names.map { "netns add \($0)\n" }.joined())
        return names.map(NetworkNamespace.init(created:))
    }

    private static func uniqueName(_ role: String) -> String {
        "kt-\(role)-\(String(UInt32.random(in: .min ... .max), radix: 16))"
    }

    /// Deletes it as `ip netns delete` does: detach the bind mount that keeps it alive, remove the file. The
    /// namespace itself goes when nothing else holds it (a process still inside keeps it).
    deinit {
        _ = umount2(path, Int32(MNT_DETACH))
        _ = unlink(path)
    }

    /// The namespace's handle, as `ip netns add` made it.
    var path: String { "/run/netns/\(name)" }

    /// Runs a command inside the namespace and returns what it did, whatever its status.
    func run(
        _ executable: String,
        _ arguments: [String] = [],
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> CommandResult {
        try Command.run(Tool.nsenter, ["--net=\(path)", "--", executable] + arguments, input: input, timeout: timeout)
    }

    /// Runs a command inside the namespace and returns its standard output; throws unless it exits 0.
    @discardableResult
    func check(
        _ executable: String,
        _ arguments: [String] = [],
        input: String? = nil,
        timeout: Duration = .seconds(60)
    ) throws -> String {
        try Command.check(
            Tool.nsenter, ["--net=\(path)", "--", executable] + arguments, input: input, timeout: timeout)
    }

    /// Starts a long-running command inside the namespace. nsenter execs it without forking, so the process's
    /// identifier is the command's (and /proc/PID/net is the namespace's).
    func start(_ executable: String, _ arguments: [String] = []) throws -> BackgroundProcess {
        try BackgroundProcess(Tool.nsenter, ["--net=\(path)", "--", executable] + arguments)
    }

    /// `ip -n NAME ARGS...`.
    @discardableResult
    func ip(_ arguments: String...) throws -> String {
        try Command.check(Tool.ip, ["-n", name] + arguments)
    }

    /// Runs several `ip` commands in this namespace with one process: `ip -n NAME -batch -`, one command a line,
    /// written as after `ip` (`"address add 10.0.0.1/24 dev eth0"`).
    @discardableResult
    func ip(batch commands: [String]) throws -> String {
        try Command.check(Tool.ip, ["-n", name, "-batch", "-"], input: commands.map { $0 + "\n" }.joined())
    }

    /// `ipvsadm ARGS...` against this namespace's IPVS table.
    @discardableResult
    func ipvsadm(_ arguments: String...) throws -> String {
        try check(Tool.ipvsadm, arguments)
    }

    /// `ipvsadm ARGS...` run until two runs in a row print the same (at most `attempts` runs), for a listing of a
    /// table too big for one netlink message. Such a dump is no snapshot while other namespaces change theirs: the
    /// kernel resumes it by counting every namespace's services (ip_vs_ctl.c ip_vs_genl_dump_services), so one run
    /// can repeat or skip a service while parallel tests add and delete their own.
    func settledIpvsadm(_ arguments: String..., attempts: Int = 10, timeout: Duration = .seconds(60)) throws -> String {
        var last = try check(Tool.ipvsadm, arguments, timeout: timeout)
        for _ in 1..<max(2, attempts) {
            let next = try check(Tool.ipvsadm, arguments, timeout: timeout)
            if next == last { return next }
            last = next
        }
        return last
    }

    /// Applies several ipvsadm commands with one process (`ipvsadm -R`), written as after `ipvsadm`
    /// (`"-A -t 10.0.0.1:80 -s rr"`).
    func ipvsadm(restore commands: [String]) throws {
        try check(Tool.ipvsadm, ["-R"], input: commands.map { $0 + "\n" }.joined())
    }

    /// Sets a sysctl of this namespace, e.g. `net.ipv4.ip_forward`.
    func setSysctl(_ key: String, _ value: String) throws {
        try check(Tool.sysctl, ["-q", "-w", "\(key)=\(value)"])
    }

    /// Reads a file as a process in the namespace sees it: /proc/net/... differs from one namespace to another.
    func read(_ path: String) throws -> String {
        try check(Tool.cat, [path])
    }

    /// Connects this namespace to `peer` with a veth pair: `interface` here gets `address`, `peerInterface` there
    /// gets `peerAddress` (both in CIDR notation), and both ends are up.
    func connect(
        _ interface: String,
        address: String,
        to peer: NetworkNamespace,
        as peerInterface: String,
        address peerAddress: String
    ) throws {
        try ip(batch: [
            "link add \(interface) type veth peer name \(peerInterface) netns \(peer.name)",
            "address add \(address) dev \(interface)",
            "link set \(interface) up",
        ])
        try peer.ip(batch: ["address add \(peerAddress) dev \(peerInterface)", "link set \(peerInterface) up"])
    }

    /// True when process `pid` is in this namespace. A process started with ``start(_:_:)`` is nsenter until it
    /// has entered the namespace and exec'd the command: until then its /proc/PID/net is the VM's own.
    func contains(process pid: Int32) -> Bool {
        var handle = stat()
        guard stat(path, &handle) == 0,
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
        else { return false }
        return link == "net:[\(handle.st_ino)]"
    }

    /// True when a TCP socket in this namespace listens on `port` (read from /proc/net/tcp and tcp6).
    func isListening(tcpPort port: Int) throws -> Bool {
        Self.tcpTablesListen(on: port, try read("/proc/net/tcp") + read("/proc/net/tcp6"))
    }

    /// True when a TCP socket in the network namespace of process `pid` listens on `port`. Reads /proc/PID/net
    /// directly, so polling a server for readiness starts no process.
    static func isListening(tcpPort port: Int, process pid: Int32) throws -> Bool {
        tcpTablesListen(
            on: port,
            try String(contentsOfFile: "/proc/\(pid)/net/tcp", encoding: .utf8)
                + String(contentsOfFile: "/proc/\(pid)/net/tcp6", encoding: .utf8))
    }

    private static func tcpTablesListen(on port: Int, _ tables: String) -> Bool {
        let wanted = ":" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        // "  0: 0100007F:0050 00000000:0000 0A ...": local address, remote address, state (0A = LISTEN). The header
        // lines never match.
        return tables.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(wanted) && fields[3] == "0A"
        }
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
