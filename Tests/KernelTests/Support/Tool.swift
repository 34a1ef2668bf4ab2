/// Full paths of the host tools the kernel tests run (the VM's userland is the host's). Never a bare name:
/// Debian's busybox-static prefers its own applets, and its `ip` has no `netns`.
enum Tool {
    static let ip = "/usr/sbin/ip"
    static let nsenter = "/usr/bin/nsenter"
    static let ipvsadm = "/usr/sbin/ipvsadm"
    static let sysctl = "/usr/sbin/sysctl"
    static let tcpdump = "/usr/bin/tcpdump"
    static let cat = "/usr/bin/cat"
    /// For httpd and wget. busybox 1.35's `wget -T` crashes under `ip netns exec`: rely on the ``Command`` time limit.
    static let busybox = "/bin/busybox"
}
