import CIPVSLinux
import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

/// A socket that only dumps destinations, receiving with at most a page.
///
/// The kernel sizes each step of a dump after the largest buffer the socket ever received with (af_netlink.c
/// `netlink_dump`: `nlk->max_recvmsg_len`, up to 32 KiB), and a destination dump of a small service fits one page:
/// with 4 KiB steps the dumps ran 1.7× faster than with 32 KiB ones (measured, see netlink-facts). A libnl socket
/// has received with 16 KiB by the time it resolved the family, so this one is a plain netlink socket that has
/// never received with more; the family id comes from an ``IPVSHandle`` of the same namespace.
///
/// It receives with exactly `NLMSG_GOODSIZE` (a page less the skb's shared info), not a whole page: a step of
/// `NLMSG_GOODSIZE` is the kernel's minimum and fits one page-sized slab object with its shared info, while a
/// receive of 4096 makes every step a 4096-byte skb, which takes an 8 KiB object — and Debian's kernel zeroes every
/// allocation (`init_on_alloc`), twice per service (the data step and the DONE step). Measured in the VM (C reader,
/// 10 000 × 10, two sockets, four interleaved rounds): destination dumps 1.28–1.30 s against 1.41–1.46 s. Should a
/// kernel's `NLMSG_GOODSIZE` be larger than assumed, a step comes back truncated (MSG_TRUNC tells): the socket then
/// drains that dump, receives with a whole page from then on, and dumps the service again.
struct DestinationDumpSocket: ~Copyable {
    let descriptor: Int32
    let familyID: UInt16
    let portID: UInt32
    var sequence: UInt32 = 0
    var readRequestsSent = 0
    /// One receive slot: a dump step never exceeds a page (`NLMSG_GOODSIZE` is at most a page, or 8 KiB on larger
    /// pages, less the skb overhead).
    static let stepSize = min(Int(sysconf(Int32(_SC_PAGESIZE))), 8192)
    /// `NLMSG_GOODSIZE` as x86-64 Linux defines it: `SKB_WITH_OVERHEAD(PAGE_SIZE)`, the page less
    /// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` (320 bytes with the default 17 fragments).
    static let goodSize = stepSize - 320
    /// What each receive asks for: ``goodSize``, or the whole slot after a truncated step.
    var receiveLength = DestinationDumpSocket.goodSize
    /// Two steps' room, for one recvmmsg of a data step and the DONE after it.
    let buffer: UnsafeMutableRawPointer
    var out = [UInt8](repeating: 0, count: 512)
    /// Remembers the replies' layout from one dump to the next (the kernel writes every reply alike).
    var decoder: IPVSDestinationDecoder

    init(
        networkNamespace: String?, familyID: UInt16, timeout: Duration, readsStatistics: Bool = true
    ) throws(IPVSError) {
        decoder = IPVSDestinationDecoder(readsStatistics: readsStatistics)
        var created: Int32 = -1
        try IPVSHandle.inNamespace(networkNamespace) { () throws(IPVSError) in
            created = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_GENERIC)
        }
        guard created >= 0 else { throw IPVSError(.open, .system(call: "socket", errno: Glibc.errno)) }
        let descriptor = created
        var address = sockaddr_nl()
        address.nl_family = sa_family_t(AF_NETLINK)
        var length = socklen_t(MemoryLayout<sockaddr_nl>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                guard bind(descriptor, p, length) == 0 else { return -1 }
                return getsockname(descriptor, p, &length)
            }
        }
        guard bound == 0 else {
            let e = Glibc.errno
            close(descriptor)
            throw IPVSError(.open, .system(call: "bind", errno: e))
        }
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        self.descriptor = descriptor
        self.familyID = familyID
        self.portID = address.nl_pid
        buffer = .allocate(byteCount: 2 * Self.stepSize, alignment: 16)
    }

    deinit {
        close(descriptor)
        buffer.deallocate()
    }

    /// IPVS_CMD_GET_DEST dump of one service, as ``IPVSHandle/destinations(of:)`` but in page-sized steps.
    mutating func destinations(of service: VirtualService) throws(IPVSError) -> [IPVSDestinationEntry] {
        if let entries = try dump(service) { return entries }
        // A step was larger than the receive: this kernel's steps are larger than ``goodSize``. Whole slots from now
        // on (the kernel keeps the largest receive, so this socket's steps stay at most a slot), and again.
        receiveLength = Self.stepSize
        if let entries = try dump(service) { return entries }
        throw IPVSError(.listDestinations, .malformedReply(.truncated))
    }

    /// One dump of `service`'s destinations; nil when a step was truncated (the dump was drained to its end).
    private mutating func dump(_ service: VirtualService) throws(IPVSError) -> [IPVSDestinationEntry]? {
        let operation = IPVSError.Operation.listDestinations
        sequence &+= 1
        let expected = sequence
        readRequestsSent += 1
        let length = out.withUnsafeMutableBytes {
            IPVSMessageWriter.write(
                .dumpDestinations(of: service), into: $0, at: 0, family: familyID, sequence: expected, portID: portID,
                acknowledge: true)
        }
        guard let length else { throw IPVSError(operation, .malformedReply(.messageTooLarge)) }
        _ = try IPVSHandle.retryingEINTR(operation, "send") {
            out.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, length, 0) }
        }
        var entries: [IPVSDestinationEntry] = []
        entries.reserveCapacity(16)
        var truncated = false
        while true {
            // One recvmmsg for two steps: the kernel makes the dump's next step (for a small service, the DONE)
            // inside the recvmsg that took the previous one (af_netlink.c `netlink_recvmsg` → `netlink_dump`), so
            // it is queued by then and MSG_WAITFORONE takes it without blocking. MSG_TRUNC: the real length, so a
            // step larger than its slot is an error rather than lost data.
            var lengths: [2 of UInt32] = [0, 0]
            let received = try IPVSHandle.retryingEINTR(operation, "recvmmsg") {
                withUnsafeMutablePointer(to: &lengths) {
                    $0.withMemoryRebound(to: UInt32.self, capacity: 2) {
                        Int(
                            CIPVSLinux_receive_two(
                                descriptor, buffer, buffer + Self.stepSize, UInt32(receiveLength), Int32(MSG_TRUNC),
                                $0))
                    }
                }
            }
            for slot in 0..<received {
                let count = Int(lengths[slot])
                let base = slot * Self.stepSize
                if count > receiveLength {
                    // Lost the step's tail; read on to the dump's end (its DONE is small) and report it.
                    truncated = true
                    continue
                }
                let step = UnsafeRawBufferPointer(start: buffer + base, count: count)
                if try Self.scan(
                    step, expected: expected, portID: portID, operation, decoder: &decoder, into: &entries)
                {
                    return truncated ? nil : entries
                }
            }
        }
    }

    /// Decodes one receive's messages into `entries`; true when the dump ended (DONE or an acknowledgement).
    private static func scan(
        _ b: UnsafeRawBufferPointer, expected: UInt32, portID: UInt32, _ operation: IPVSError.Operation,
        decoder: inout IPVSDestinationDecoder, into entries: inout [IPVSDestinationEntry]
    ) throws(IPVSError) -> Bool {
        var offset = 0
        while b.count - offset >= 16 {
            let length = Int(b.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let type = b.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
            let seq = b.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let port = b.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
            guard length >= 16, offset + length <= b.count else {
                throw IPVSError(operation, .malformedReply(.truncated))
            }
            defer { offset += (length + 3) & ~3 }
            guard seq == expected, port == portID else { continue }
            switch Int32(type) {
            case NLMSG_DONE:
                return true
            case NLMSG_ERROR:
                let code = length >= 20 ? b.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self) : -EPROTO
                if code != 0 { throw IPVSError(operation, .kernel(errno: -code)) }
                return true
            case NLMSG_NOOP:
                continue
            default:
                do {
                    entries.append(try decoder.decode(UnsafeRawBufferPointer(rebasing: b[offset..<offset + length])))
                } catch { throw IPVSError(operation, .malformedReply(error)) }
            }
        }
        return false
    }
}
