import CIPVSLinux
import Glibc

extension IPVSHandle {
    /// Moves the calling thread into the network namespace at `path` for good (setns(2) with CLONE_NEWNET), for a
    /// single-threaded program that wants everything it does to happen there: sockets it opens afterwards, threads it
    /// starts afterwards (they inherit it), and /proc/net, which shows the namespace of the process's main thread.
    /// `ipvsctl --netns` calls it first thing, so that `-c` reads the namespace's /proc/net/ip_vs_conn and
    /// `--start-daemon` starts its kernel thread there (ip_vs_sync.c `start_sync_thread` runs in the netlink
    /// socket's namespace).
    ///
    /// Throws `.system(call: "open PATH", …)` when the file cannot be opened and `.system(call: "setns PATH", …)`
    /// when it is not a network namespace (EINVAL) or the caller lacks CAP_SYS_ADMIN (EPERM); the thread stays where
    /// it was.
    public static func enterNetworkNamespace(atPath path: String) throws(IPVSError) {
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw IPVSError(.open, .system(call: "open \(path)", errno: Glibc.errno)) }
        defer { close(target) }
        guard CIPVSLinux_setns_net(target) == 0 else {
            throw IPVSError(.open, .system(call: "setns \(path)", errno: Glibc.errno))
        }
    }

    /// ``enterNetworkNamespace(atPath:)`` for the namespace `ip netns add NAME` made: `.networkNamespaceNotFound`
    /// when /run/netns/NAME does not exist, `.invalidNetworkNamespaceName` when NAME cannot be a file there.
    public static func enterNetworkNamespace(named name: String) throws(IPVSError) {
        try enterNetworkNamespace(atPath: networkNamespacePath(named: name))
    }
}
