import CIPVSLinux
import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

/// A connection to the kernel's IPVS in one network namespace: one generic netlink socket (a libnl `nl_sock`),
/// the IPVS family id resolved once when it opens, and a sequence number per request. Every reply is checked
/// against the request's sequence number and the socket's port id; replies to an earlier request that timed out
/// are skipped.
///
/// Not thread-safe: one request at a time (a netlink socket runs one dump at a time anyway). Open one handle per
/// thread to read in parallel.
public struct IPVSHandle: ~Copyable {
    let socket: OpaquePointer
    let descriptor: Int32
    /// The IPVS generic netlink family id (the kernel assigns it when ip_vs registers).
    public let familyID: UInt16
    /// The socket's netlink port id, which every reply must carry.
    public let portID: UInt32
    var sequence: UInt32
    var buffer: [UInt8]
    /// The batches' send buffer, kept from one batch to the next (``perform(batch:)``): `-R` sends a batch per
    /// chunk of its input, and a fresh megabyte each time was zeroed and faulted in anew.
    var sendBuffer: [UInt8] = []
    /// Netlink messages sent on this handle that change the kernel's tables (every command but the GET ones and
    /// dumps), batches included: what "one changed destination = one mutating message" counts.
    public internal(set) var mutatingMessagesSent = 0
    /// Read requests sent on this handle (GET commands and dumps; a dump counts once however many parts it has).
    public internal(set) var readRequestsSent = 0
    /// How batches are sent (``perform(batch:)``): the defaults, unless a test forces another path.
    public var batchOptions = IPVSBatchOptions()

    /// Opens a handle in the caller's network namespace, or in the one at `networkNamespace` (a path such as
    /// `/run/netns/NAME` or `/proc/PID/ns/net`). The socket lives in that namespace for its whole life; the
    /// calling thread returns to its own before this returns.
    ///
    /// - Parameter timeout: how long a send or a receive may block before the request fails with `.timedOut`.
    public init(networkNamespace: String? = nil, timeout: Duration = .seconds(5)) throws(IPVSError) {
        guard let socket = nl_socket_alloc() else {
            throw IPVSError(.open, .system(call: "nl_socket_alloc", errno: ENOMEM))
        }
        do throws(IPVSError) {
            try Self.inNamespace(networkNamespace) { () throws(IPVSError) in
                let status = genl_connect(socket)
                if status < 0 {
                    throw IPVSError(.open, .libnl(code: status, message: String(cString: nl_geterror(status))))
                }
            }
            let family = genl_ctrl_resolve(socket, IPVS_GENL_NAME)
            if family == -NLE_OBJ_NOTFOUND { throw IPVSError(.open, .ipvsNotInKernel) }
            if family < 0 {
                throw IPVSError(.open, .libnl(code: family, message: String(cString: nl_geterror(family))))
            }
            let descriptor = nl_socket_get_fd(socket)
            try Self.setTimeout(descriptor, timeout)
            self.socket = socket
            self.descriptor = descriptor
            self.familyID = UInt16(family)
            self.portID = nl_socket_get_local_port(socket)
            // Continue libnl's counter: the family lookup used the numbers before it.
            self.sequence = nl_socket_use_seq(socket)
            // Dump steps are at most 32 KiB (the kernel sizes them after the receive buffer); 64 KiB holds one.
            self.buffer = [UInt8](repeating: 0, count: 65536)
        } catch {
            nl_socket_free(socket)
            throw error
        }
    }

    deinit {
        nl_socket_free(socket)  // closes the descriptor
    }

    // MARK: - Commands

    /// IPVS_CMD_GET_INFO: the IPVS version and connection table size (the first line of `ipvsadm -Ln`).
    public mutating func info() throws(IPVSError) -> IPVSInfo {
        try decodeOne(.getInfo, .getInfo) { (m) throws(IPVSCodecError) in try IPVSReplyDecoder.info(m) }
    }

    /// IPVS_CMD_NEW_SERVICE (`ipvsadm -A`).
    public mutating func addService(_ service: VirtualService) throws(IPVSError) {
        _ = try perform(.newService(service), .addService)
    }

    /// IPVS_CMD_SET_SERVICE (`ipvsadm -E`): the service is found by its key; everything else is replaced.
    public mutating func editService(_ service: VirtualService) throws(IPVSError) {
        _ = try perform(.setService(service), .editService)
    }

    /// IPVS_CMD_DEL_SERVICE (`ipvsadm -D`), with all its destinations.
    public mutating func deleteService(_ service: VirtualService) throws(IPVSError) {
        _ = try perform(.deleteService(service), .deleteService)
    }

    /// IPVS_CMD_GET_SERVICE for one service, found by the key of `service`.
    public mutating func service(_ service: VirtualService) throws(IPVSError) -> IPVSServiceEntry {
        try decodeOne(.getService(service), .getService) { (m) throws(IPVSCodecError) in
            try IPVSReplyDecoder.service(m)
        }
    }

    /// IPVS_CMD_GET_SERVICE dump: every service of the namespace, in the kernel's hash table order, each once.
    ///
    /// A service added in any namespace while the dump runs can make the kernel send one of ours again (see
    /// ``servicesConsistently(attempts:)``); such repeats are dropped here. A multi-part dump can still miss services
    /// when others are deleted meanwhile: ``servicesConsistently(attempts:)`` guards against that.
    ///
    /// Without `readsStatistics` the entries' counters are zero (a listing that prints none).
    public mutating func services(readsStatistics: Bool = true) throws(IPVSError) -> [IPVSServiceEntry] {
        try servicesDump(readsStatistics: readsStatistics).entries
    }

    /// One service dump with its repeats dropped, and whether there were any.
    mutating func servicesDump(readsStatistics: Bool = true) throws(IPVSError) -> (
        entries: [IPVSServiceEntry], repeated: Bool
    ) {
        let entries = try dumpInPlace(.dumpServices, .listServices) { (m) throws(IPVSCodecError) in
            try IPVSReplyDecoder.service(in: m, readsStatistics: readsStatistics)
        }
        // Nearly always none: checked with a table of positions under a cheap hash, not a Set of keys (SipHash of
        // every key, which the kernel VM's emulation makes dear for a large table).
        guard ServiceKeyTable.hasRepeats(entries) else { return (entries, false) }
        var seen = Set<ServiceKey>()
        seen.reserveCapacity(entries.count)
        return (entries.filter { seen.insert($0.service.key).inserted }, true)
    }

    /// IPVS_CMD_NEW_DEST (`ipvsadm -a`).
    public mutating func addDestination(_ server: RealServer, to service: VirtualService) throws(IPVSError) {
        _ = try perform(.newDestination(server, in: service), .addDestination)
    }

    /// IPVS_CMD_SET_DEST (`ipvsadm -e`).
    public mutating func editDestination(_ server: RealServer, in service: VirtualService) throws(IPVSError) {
        _ = try perform(.setDestination(server, in: service), .editDestination)
    }

    /// IPVS_CMD_DEL_DEST (`ipvsadm -d`): found by address and port.
    public mutating func deleteDestination(_ server: RealServer, from service: VirtualService) throws(IPVSError) {
        _ = try perform(.deleteDestination(server, in: service), .deleteDestination)
    }

    /// IPVS_CMD_GET_DEST dump: the destinations of one service, in the kernel's list order.
    public mutating func destinations(of service: VirtualService) throws(IPVSError) -> [IPVSDestinationEntry] {
        try decodeAll(.dumpDestinations(of: service), .listDestinations) { (m) throws(IPVSCodecError) in
            try IPVSReplyDecoder.destination(m)
        }
    }

    /// IPVS_CMD_GET_CONFIG (`ipvsadm -L --timeout`).
    public mutating func timeouts() throws(IPVSError) -> IPVSTimeouts {
        try decodeOne(.getConfig, .getTimeouts) { (m) throws(IPVSCodecError) in try IPVSReplyDecoder.timeouts(m) }
    }

    /// IPVS_CMD_SET_CONFIG (`ipvsadm --set`): a 0 leaves that timeout as it is.
    public mutating func setTimeouts(_ timeouts: IPVSTimeouts) throws(IPVSError) {
        _ = try perform(.setConfig(timeouts), .setTimeouts)
    }

    /// IPVS_CMD_FLUSH (`ipvsadm -C`): deletes every service of the namespace.
    public mutating func flush() throws(IPVSError) {
        _ = try perform(.flush, .flush)
    }

    /// Sends `request` and returns the data messages of the reply (none for a plain acknowledgement), after the
    /// kernel's acknowledgement or NLMSG_DONE. Throws the kernel's errno as `.kernel(errno:)`.
    public mutating func perform(
        _ request: IPVSRequest, _ operation: IPVSError.Operation
    ) throws(IPVSError) -> [NetlinkFrame] {
        let expected = try send(request, operation)
        return try receiveReplies(to: expected, operation)
    }

    /// Sends `request` with the next sequence number and returns that number.
    mutating func send(_ request: IPVSRequest, _ operation: IPVSError.Operation) throws(IPVSError) -> UInt32 {
        sequence &+= 1
        let expected = sequence
        let message: [UInt8]
        do {
            message = try request.encode(family: familyID, sequence: expected, portID: portID)
        } catch { throw IPVSError(operation, .malformedReply(error)) }
        if request.isRead { readRequestsSent += 1 } else { mutatingMessagesSent += 1 }
        _ = try Self.retryingEINTR(operation, "send") {
            message.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        }
        return expected
    }

    /// Receives until the answer to request `expected` ends (its acknowledgement, error or NLMSG_DONE), and
    /// returns the data messages before it. Skipped: messages another socket sent to this one (the sender's port
    /// is not 0, the kernel's), and messages with another sequence number or port id (the late answer to an
    /// earlier request that timed out).
    mutating func receiveReplies(
        to expected: UInt32, _ operation: IPVSError.Operation
    ) throws(IPVSError) -> [NetlinkFrame] {
        var replies: [NetlinkFrame] = []
        while true {
            var sender: UInt32 = 0
            let count = try Self.retryingEINTR(operation, "recv") {
                buffer.withUnsafeMutableBytes { Self.receive(descriptor, $0, flags: 0, sender: &sender) }
            }
            if sender != 0 { continue }
            let frames: [NetlinkFrame]
            do { frames = try NetlinkFrame.split(buffer[..<count]) } catch {
                throw IPVSError(operation, .malformedReply(error))
            }
            for frame in frames {
                guard frame.sequence == expected, frame.portID == portID else { continue }
                switch Int32(frame.type) {
                case NLMSG_ERROR:
                    let code = frame.errorCode ?? -EPROTO
                    if code != 0 { throw IPVSError(operation, .kernel(errno: -code)) }
                    return replies
                case NLMSG_DONE:
                    if let code = frame.errorCode, code < 0 { throw IPVSError(operation, .kernel(errno: -code)) }
                    return replies
                case NLMSG_NOOP:
                    continue
                default:
                    replies.append(frame)
                }
            }
        }
    }

    /// `recvfrom` into `buffer`, with the sender's netlink port id in `sender` (0: the kernel).
    static func receive(
        _ descriptor: Int32, _ buffer: UnsafeMutableRawBufferPointer, flags: Int32, sender: inout UInt32
    ) -> Int {
        var address = sockaddr_nl()
        var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
        let count = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.recvfrom(descriptor, buffer.baseAddress, buffer.count, flags, $0, &length)
            }
        }
        sender = address.nl_pid
        return count
    }

    // MARK: - Plumbing

    private mutating func decodeOne<T>(
        _ request: IPVSRequest, _ operation: IPVSError.Operation,
        _ decode: ([UInt8]) throws(IPVSCodecError) -> T
    ) throws(IPVSError) -> T {
        let all = try decodeAll(request, operation, decode)
        guard let first = all.first else { throw IPVSError(operation, .malformedReply(.truncated)) }
        return first
    }

    mutating func decodeAll<T>(
        _ request: IPVSRequest, _ operation: IPVSError.Operation,
        _ decode: ([UInt8]) throws(IPVSCodecError) -> T
    ) throws(IPVSError) -> [T] {
        let frames = try perform(request, operation)
        var values: [T] = []
        values.reserveCapacity(frames.count)
        for frame in frames {
            do { values.append(try decode(frame.bytes)) } catch { throw IPVSError(operation, .malformedReply(error)) }
        }
        return values
    }

    /// The one system call funnel: retries EINTR, maps EAGAIN (the socket timeout) and ENOBUFS to their reasons.
    static func retryingEINTR(
        _ operation: IPVSError.Operation, _ call: String, _ body: () -> Int
    ) throws(IPVSError) -> Int {
        while true {
            let result = body()
            if result >= 0 { return result }
            switch Glibc.errno {
            case EINTR: continue
            case EAGAIN: throw IPVSError(operation, .timedOut)
            case ENOBUFS: throw IPVSError(operation, .repliesLost)
            case let e: throw IPVSError(operation, .system(call: call, errno: e))
            }
        }
    }

    private static func setTimeout(_ descriptor: Int32, _ timeout: Duration) throws(IPVSError) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            if setsockopt(descriptor, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) != 0 {
                throw IPVSError(.open, .system(call: "setsockopt", errno: Glibc.errno))
            }
        }
    }

    /// Runs `body` with the calling thread in the network namespace at `path` (none: where it is), then moves the
    /// thread back. A socket belongs to the namespace it was created in, whatever thread uses it later.
    static func inNamespace(
        _ path: String?, _ operation: IPVSError.Operation = .open, _ body: () throws(IPVSError) -> Void
    ) throws(IPVSError) {
        guard let path else { return try body() }
        let own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard own >= 0 else {
            throw IPVSError(operation, .system(call: "open /proc/thread-self/ns/net", errno: Glibc.errno))
        }
        defer { close(own) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw IPVSError(operation, .system(call: "open \(path)", errno: Glibc.errno)) }
        defer { close(target) }
        guard CIPVSLinux_setns_net(target) == 0 else {
            throw IPVSError(operation, .system(call: "setns \(path)", errno: Glibc.errno))
        }
        defer {
            // Going back cannot fail for a namespace this thread was in, short of a kernel bug; if it did, the thread
            // would be left in the wrong namespace, which is worse than stopping.
            precondition(CIPVSLinux_setns_net(own) == 0, "setns back to the thread's own network namespace failed")
        }
        try body()
    }
}
