import CIPVSLinux
import Foundation
import Glibc

/// Work done by a thread of this process that has entered another network namespace (setns(2) moves only the
/// calling thread). Sockets such a thread opens belong to that namespace for their whole life. Cheaper than a
/// process per connection by far in the emulated VM, and the code under test is ours, not a tool's.
final class NamespaceThread: @unchecked Sendable {
    // @unchecked: `failure` is written by the thread before it signals `done`, read after waiting for it.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private var failure: String? = nil
    private let done = DispatchSemaphore(value: 0)
    private var finished = false
    /// Called on the thread when it cannot enter the namespace (body never runs): to release whoever waits for it.
    private let onEntryFailure: (@Sendable () -> Void)?

    /// Starts `body` on a new thread in the namespace at `path` (pinned to CPU `cpu` when given, so that the packets
    /// it sends reach the director in the order they were sent). `body` returns a failure message or nil.
    init(in path: String, pinnedTo cpu: Int32? = nil, onEntryFailure: (@Sendable () -> Void)? = nil,
         _ body: @escaping @Sendable () -> String?) {
        self.onEntryFailure = onEntryFailure
        let thread = Thread { [self] in
            if let failed = Self.enter(path, cpu: cpu) {
                failure = failed
                onEntryFailure?()
            } else {
                failure = body()
            }
            done.signal()
        }
        thread.start()
    }

    /// Waits for the thread's end; throws what it reported.
    func join() throws {
        if !finished {
            done.wait()
            finished = true
        }
        if let failure { throw Failure(description: failure) }
    }

    /// Runs `body` in the namespace and waits for it.
    static func run(in path: String, pinnedTo cpu: Int32? = nil, _ body: @escaping @Sendable () -> String?) throws {
        try NamespaceThread(in: path, pinnedTo: cpu, body).join()
    }

    private static func enter(_ path: String, cpu: Int32?) -> String? {
        if let cpu, CIPVSLinux_pin_to_cpu(cpu) != 0 { return "sched_setaffinity: errno \(errno)" }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { return "open \(path): errno \(errno)" }
        defer { close(target) }
        // The thread ends with its work: it need not go back to its original namespace.
        guard CIPVSLinux_setns_net(target) == 0 else { return "setns \(path): errno \(errno)" }
        return nil
    }
}

/// A TCP server of our own in a namespace that answers every connection with its identity and a newline, then
/// closes (so the server sends the first FIN, as an HTTP/1.0 server does). One accept loop on one thread: enough
/// for clients that connect one at a time. Stopped (listening socket shut down, thread joined) by `stop()` or when
/// the last reference goes.
final class IdentityTCPServer: @unchecked Sendable {
    // @unchecked: `listener` is set once, before the initializer returns.
    let identity: String
    private var listener: Int32 = -1
    private var thread: NamespaceThread? = nil
    private(set) var served = 0

    /// `cpu`: pin the accept loop to this CPU (the packets it sends then go through the director on that CPU).
    init(in namespace: NetworkNamespace, address: String, port: UInt16 = 80, identity: String,
         pinnedTo cpu: Int32? = nil) throws {
        self.identity = identity
        guard let ip = IPv4Text(address) else { throw NamespaceThread.Failure(description: "not IPv4: \(address)") }
        let ready = DispatchSemaphore(value: 0)
        let reply = Array((identity + "\n").utf8)
        thread = NamespaceThread(in: namespace.path, pinnedTo: cpu, onEntryFailure: { ready.signal() }) { [self] in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else {
                ready.signal()
                return "socket: errno \(errno)"
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var local = ip.socketAddress(port: port)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 128) == 0 else {
                let e = errno
                close(fd)
                ready.signal()
                return "bind/listen \(address):\(port): errno \(e)"
            }
            listener = fd
            ready.signal()
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 {
                    if errno == EINTR { continue }
                    return nil  // shut down
                }
                _ = reply.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
                close(c)
                served += 1
            }
        }
        ready.wait()
        if listener < 0 { try thread?.join() }
    }

    func stop() {
        guard let t = thread else { return }
        thread = nil
        shutdown(listener, Int32(SHUT_RDWR))
        try? t.join()
        close(listener)
    }

    deinit { stop() }
}

/// An IPv4 address in dotted notation, parsed for sockaddr_in.
struct IPv4Text {
    var value: UInt32

    init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        value = v
    }

    func socketAddress(port: UInt16) -> sockaddr_in {
        var s = sockaddr_in()
        s.sin_family = sa_family_t(AF_INET)
        s.sin_port = port.bigEndian
        s.sin_addr = in_addr(s_addr: value.bigEndian)
        return s
    }
}
