import CIPVSNetlink
import CNetlink
import Glibc
import IPVSCore

extension IPVSRequest {
    /// A GET command or a dump: reads the kernel's tables without changing them (ip_vs_ctl.c: the GET commands
    /// go to `ip_vs_genl_dump_*` or `ip_vs_genl_get_cmd`, every other one to `ip_vs_genl_set_cmd` or
    /// `ip_vs_genl_set_daemon`).
    public var isRead: Bool {
        if isDump { return true }
        switch Int(command) {
        case IPVS_CMD_GET_SERVICE, IPVS_CMD_GET_DEST, IPVS_CMD_GET_DAEMON, IPVS_CMD_GET_CONFIG, IPVS_CMD_GET_INFO:
            return true
        default:
            return false
        }
    }

    /// The operation an error on this request is reported as (ipvsadm's name for the command).
    public var operation: IPVSError.Operation {
        switch Int(command) {
        case IPVS_CMD_NEW_SERVICE: return .addService
        case IPVS_CMD_SET_SERVICE: return .editService
        case IPVS_CMD_DEL_SERVICE: return .deleteService
        case IPVS_CMD_GET_SERVICE: return isDump ? .listServices : .getService
        case IPVS_CMD_NEW_DEST: return .addDestination
        case IPVS_CMD_SET_DEST: return .editDestination
        case IPVS_CMD_DEL_DEST: return .deleteDestination
        case IPVS_CMD_GET_DEST: return .listDestinations
        case IPVS_CMD_GET_CONFIG: return .getTimeouts
        case IPVS_CMD_SET_CONFIG: return .setTimeouts
        case IPVS_CMD_FLUSH: return .flush
        default: return .getInfo
        }
    }
}

/// How a handle sends batches. The defaults are what batches need; the others exist to force the paths a test must
/// reach (a receive buffer too small for the answers, an acknowledgement on every message).
public struct IPVSBatchOptions: Hashable, Sendable {
    /// Ask for an acknowledgement on every message instead of on the last one of each send.
    public var acknowledgeEveryRequest: Bool
    /// Set the receive buffer to this (SO_RCVBUFFORCE, which the kernel doubles) instead of raising it.
    public var receiveBuffer: Int?
    /// Messages per send at most, instead of as many as the receive buffer has room to answer.
    public var messagesPerSend: Int?

    public init(acknowledgeEveryRequest: Bool = false, receiveBuffer: Int? = nil, messagesPerSend: Int? = nil) {
        self.acknowledgeEveryRequest = acknowledgeEveryRequest
        self.receiveBuffer = receiveBuffer
        self.messagesPerSend = messagesPerSend.map { max(1, $0) }
    }
}

/// What became of each request of a batch (``IPVSHandle/perform(batch:)``).
///
/// Requests are applied in order and independently: the kernel goes on with the next message after one fails
/// (af_netlink.c `netlink_rcv_skb` acknowledges the failure and carries on), so a failure in the middle leaves the
/// requests before and after it applied.
public struct IPVSBatchResult: Sendable {
    /// One request the kernel refused: its index in the batch, the request, and the error.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var index: Int
        public var request: IPVSRequest
        public var error: IPVSError
        public var description: String { "request \(index): \(error)" }
    }

    public enum Outcome: Hashable, Sendable {
        /// The kernel carried it out.
        case applied
        /// The kernel refused it (nothing of it was applied).
        case failed(IPVSError)
        /// Sent, but its answer was lost (receive buffer overflow) or did not come in time: it may or may not have
        /// been applied. Read the kernel back to know.
        case unconfirmed(IPVSError)
        /// Never sent (an earlier send failed, or the batch stopped): not applied.
        case notSent(IPVSError)
    }

    /// How many requests the batch had.
    public let count: Int
    /// The refused requests, in batch order.
    public internal(set) var failures: [Failure] = []
    /// Requests whose outcome is unknown, with why.
    public internal(set) var unconfirmed: [(range: Range<Int>, error: IPVSError)] = []
    /// The requests from `notSent.lowerBound` on were never sent, with the error that stopped the batch.
    public internal(set) var notSent: (range: Range<Int>, error: IPVSError)?
    /// Netlink sends (one message buffer each) the batch took.
    public internal(set) var sends = 0

    init(count: Int) { self.count = count }

    /// Requests known to be applied.
    public var appliedCount: Int {
        count - failures.count - unconfirmed.reduce(0) { $0 + $1.range.count } - (notSent?.range.count ?? 0)
    }

    /// True when every request was applied.
    public var allApplied: Bool { failures.isEmpty && unconfirmed.isEmpty && notSent == nil }

    /// What became of request `index`.
    public func outcome(of index: Int) -> Outcome {
        precondition(index >= 0 && index < count, "request \(index) is not in a batch of \(count)")
        if let notSent, notSent.range.contains(index) { return .notSent(notSent.error) }
        if let u = unconfirmed.first(where: { $0.range.contains(index) }) { return .unconfirmed(u.error) }
        // Failures are in index order.
        var low = 0
        var high = failures.count
        while low < high {
            let mid = (low + high) / 2
            if failures[mid].index < index { low = mid + 1 } else { high = mid }
        }
        if low < failures.count, failures[low].index == index { return .failed(failures[low].error) }
        return .applied
    }
}

extension IPVSHandle {
    /// Largest buffer of messages sent at once. The C reference client peaked with sends of up to 1 MiB; the
    /// send buffer must hold it (af_netlink.c `netlink_sendmsg`: a send over `sk_sndbuf - 32` fails EMSGSIZE).
    static let batchSendLimit = 1 << 20
    /// Receive buffer asked for while a batch runs: room for an error per message of the largest send. An error
    /// message costs about 768 bytes of buffer (its skb's truesize), and 212 992 bytes, the default, hold about 270.
    static let batchReceiveBuffer = 32 << 20
    /// Buffer space one error answer takes in the receive queue (skb truesize of a capped NLMSG_ERROR), rounded up.
    static let errorAnswerCost = 1024

    /// Sends many requests with as few sends as the socket buffers allow, and attributes every error to its
    /// request.
    ///
    /// Messages are laid out one after the other in one buffer and sent with one `send` each buffer-full; only the
    /// last message of each send asks for an acknowledgement (NLM_F_ACK): the kernel answers a failed message with
    /// its error whatever the flag (af_netlink.c `netlink_rcv_skb`), so the errors come back per message and one
    /// ack closes the send. Acks on every message would overflow the default receive buffer (ENOBUFS, lost answers).
    /// The socket is set up for it: NETLINK_CAP_ACK (errors do not echo the request), the receive buffer raised
    /// with SO_RCVBUFFORCE (root) or SO_RCVBUF, the send buffer with SO_SNDBUFFORCE or SO_SNDBUF; with smaller
    /// buffers (no CAP_NET_ADMIN) the sends are smaller.
    ///
    /// Read requests (GET, dumps) cannot be batched: one dump runs at a time per socket. Passing one is a
    /// programming error.
    ///
    /// ``batchOptions`` can force other settings (tests use them to overflow the receive buffer).
    ///
    /// - Returns: what became of each request. Never throws for one refused request. Answers lost to a full
    ///   receive buffer (ENOBUFS) leave the requests of that send without an answer unconfirmed, and the batch goes
    ///   on with smaller sends; a send or receive that fails otherwise stops the batch, and the result says which
    ///   requests were not sent or have no answer.
    public mutating func perform(batch requests: [IPVSRequest]) -> IPVSBatchResult {
        for (index, request) in requests.enumerated() {
            precondition(!request.isRead, "request \(index) of the batch reads (\(request.operation.rawValue))")
        }
        return perform(batchOf: RequestMessages(requests: requests))
    }

    /// ``perform(batch:)`` of requests encoded beforehand, on any thread (``IPVSEncodedBatch``): each message is
    /// copied into the send buffer and given its sequence number. A batch encoded for another family or port id
    /// (another handle) is encoded again here.
    public mutating func perform(batch encoded: IPVSEncodedBatch) -> IPVSBatchResult {
        guard encoded.family == familyID, encoded.portID == portID else { return perform(batch: encoded.requests) }
        return perform(batchOf: EncodedMessages(batch: encoded))
    }

    /// The batch engine, over any list of messages that can write themselves (``BatchMessages``): the requests of
    /// ``perform(batch:)``, or a ``MirrorPlan`` encoded straight from its compact steps.
    mutating func perform<Messages: BatchMessages>(batchOf messages: Messages) -> IPVSBatchResult {
        var result = IPVSBatchResult(count: messages.count)
        guard messages.count > 0 else { return result }
        var (sendLimit, messagesPerSend) = prepareForBatch()
        let acknowledgeEach = batchOptions.acknowledgeEveryRequest
        var out: [UInt8] = []
        swap(&out, &sendBuffer)
        if out.count < sendLimit { out = [UInt8](repeating: 0, count: sendLimit) }
        defer { sendBuffer = out }
        var next = 0
        while next < messages.count {
            let first = next
            let firstSequence = sequence &+ 1
            // Lay out messages until the buffer or the answer budget is full; the last one asks for an ack.
            let (written, length, lastOffset) = out.withUnsafeMutableBytes { buffer in
                messages.writeRun(
                    from: first, limit: messagesPerSend, into: buffer, family: familyID, firstSequence: firstSequence,
                    portID: portID, acknowledge: acknowledgeEach)
            }
            next = first + written
            if next == first {
                // One message larger than the whole buffer (cannot happen with IPVS's attributes).
                result.notSent = (
                    first..<messages.count, IPVSError(messages.operation(at: first), .malformedReply(.messageTooLarge))
                )
                return result
            }
            // NLM_F_ACK on the last message (flags at offset 6 of its header).
            let flags = UInt16(NLM_F_REQUEST | NLM_F_ACK)
            out[lastOffset + 6] = UInt8(truncatingIfNeeded: flags)
            out[lastOffset + 7] = UInt8(truncatingIfNeeded: flags >> 8)
            sequence = firstSequence &+ UInt32(truncatingIfNeeded: next - first - 1)
            mutatingMessagesSent += next - first

            let sent = Self.retryingEINTROrFail(messages.operation(at: first), "send") {
                out.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, length, 0) }
            }
            result.sends += 1
            if case .failure(let error) = sent {
                result.notSent = (first..<messages.count, error)
                return result
            }
            switch collectAnswers(messages, first..<next, firstSequence: firstSequence, into: &result) {
            case .complete:
                break
            case .answersLost:
                // The receive buffer overflowed: send less at once from now on.
                messagesPerSend = max(1, (next - first) / 2)
            case .stop(let error):
                if next < messages.count { result.notSent = (next..<messages.count, error) }
                return result
            }
        }
        return result
    }

    /// How the answers to one send ended.
    enum AnswersOutcome {
        /// The last message's answer came, and every error before it.
        case complete
        /// The receive buffer overflowed (ENOBUFS): the answers that came are recorded, the requests without one
        /// are marked unconfirmed. The batch goes on.
        case answersLost
        /// Receiving failed (timeout, or another error): the requests without an answer are unconfirmed, and the
        /// batch stops with this error.
        case stop(IPVSError)
    }

    /// Reads the answers to one send: errors for refused messages, then the ack (or error) of the last one.
    ///
    /// The kernel has processed the whole send when `send` returns (af_netlink.c `netlink_unicast_kernel` runs
    /// genetlink's `genl_rcv` in the sender's call), so every answer is queued or, when the receive buffer was full,
    /// dropped (af_netlink.c `netlink_overrun` then reports ENOBUFS once on the next receive). After ENOBUFS the
    /// queue is read without blocking until it is empty: the answers that would have ended the wait are gone, and
    /// waiting for them would only run into the timeout.
    ///
    /// Only messages from the kernel (source port 0) that carry this socket's port id and a sequence number of
    /// this send count: a late answer to an earlier request, or a message another socket sent to this one, is
    /// skipped.
    private mutating func collectAnswers<Messages: BatchMessages>(
        _ messages: Messages, _ range: Range<Int>, firstSequence: UInt32, into result: inout IPVSBatchResult
    ) -> AnswersOutcome {
        let lastSequence = firstSequence &+ UInt32(truncatingIfNeeded: range.count - 1)
        var lost: IPVSError? = nil
        let failuresBefore = result.failures.count
        let operation = messages.operation(at: range.last!)
        while true {
            var sender: UInt32 = 0
            let flags = lost == nil ? 0 : Int32(MSG_DONTWAIT)
            let received = Self.retryingEINTROrFail(operation, "recv") {
                buffer.withUnsafeMutableBytes { Self.receive(descriptor, $0, flags: flags, sender: &sender) }
            }
            let count: Int
            switch received {
            case .success(let n): count = n
            case .failure(let error):
                if case .repliesLost = error.reason {
                    // Some answers were dropped; the ones queued before the overflow are still to be read.
                    lost = error
                    continue
                }
                if let lost, case .timedOut = error.reason {
                    // EAGAIN without blocking: the queue is empty, nothing more will come for this send.
                    markUnconfirmed(range, failuresFrom: failuresBefore, lost, &result)
                    return .answersLost
                }
                markUnconfirmed(range, failuresFrom: failuresBefore, error, &result)
                return .stop(error)
            }
            // Not from the kernel: another socket wrote to ours.
            if sender != 0 { continue }
            var done = false
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while count - offset >= 16 {
                    let length = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    guard length >= 16, offset + length <= count else { break }
                    let type = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
                    let seq = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                    let port = bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
                    let delta = seq &- firstSequence
                    if port == portID, Int(delta) < range.count, type == UInt16(NLMSG_ERROR), length >= 20 {
                        let code = bytes.loadUnaligned(fromByteOffset: offset + 16, as: Int32.self)
                        let index = range.lowerBound + Int(delta)
                        if code != 0 {
                            result.failures.append(
                                .init(
                                    index: index, request: messages.request(at: index),
                                    error: IPVSError(messages.operation(at: index), .kernel(errno: -code))))
                        }
                        if seq == lastSequence { done = true }
                    }
                    offset += (length + 3) & ~3
                }
            }
            if done {
                if let lost {
                    markUnconfirmed(range, failuresFrom: failuresBefore, lost, &result)
                    return .answersLost
                }
                return .complete
            }
        }
    }

    /// Every request of `range` without a recorded failure: outcome unknown.
    private func markUnconfirmed(
        _ range: Range<Int>, failuresFrom start: Int, _ error: IPVSError, _ result: inout IPVSBatchResult
    ) {
        let failed = Set(result.failures[start...].map(\.index))
        var runStart: Int? = nil
        for index in range {
            if failed.contains(index) {
                if let s = runStart { result.unconfirmed.append((s..<index, error)) }
                runStart = nil
            } else if runStart == nil {
                runStart = index
            }
        }
        if let s = runStart { result.unconfirmed.append((s..<range.upperBound, error)) }
    }

    /// ``retryingEINTR`` as a Result, for the batch, which reports rather than throws.
    private static func retryingEINTROrFail(
        _ operation: IPVSError.Operation, _ call: String, _ body: () -> Int
    ) -> Result<Int, IPVSError> {
        do throws(IPVSError) {
            return .success(try retryingEINTR(operation, call, body))
        } catch {
            return .failure(error)
        }
    }

    /// Sets the socket up for batches and returns how many bytes and messages one send may carry.
    private func prepareForBatch() -> (bytes: Int, messages: Int) {
        var one: Int32 = 1
        // Errors without the request echoed (4.3 and later); harmless to ask again.
        _ = setsockopt(descriptor, SOL_NETLINK, NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        let receive: Int
        if let size = batchOptions.receiveBuffer {
            var value = Int32(clamping: size)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVBUFFORCE, &value, socklen_t(MemoryLayout<Int32>.size))
            receive = size
        } else {
            receive = Self.raise(descriptor, SO_RCVBUFFORCE, SO_RCVBUF, to: Self.batchReceiveBuffer)
        }
        let send = Self.raise(descriptor, SO_SNDBUFFORCE, SO_SNDBUF, to: Self.batchSendLimit)
        // af_netlink.c netlink_sendmsg: len > sk_sndbuf - 32 fails. The answers of one send must fit the receive
        // buffer: the final ack, and an error per message at worst.
        let bytes = max(4096, min(Self.batchSendLimit, send - 32))
        let messages = batchOptions.messagesPerSend ?? max(1, receive / Self.errorAnswerCost - 1)
        return (bytes, messages)
    }

    /// Raises a socket buffer to `size` if it is smaller (the forced option first, the plain one capped by
    /// net.core.*mem_max otherwise) and returns what the socket has (the kernel doubles the value set).
    private static func raise(_ descriptor: Int32, _ forced: Int32, _ plain: Int32, to size: Int) -> Int {
        func current() -> Int {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(descriptor, SOL_SOCKET, plain, &value, &length)
            return Int(value)
        }
        let now = current()
        if now >= size { return now }
        var wanted = Int32(size / 2)
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(descriptor, SOL_SOCKET, forced, &wanted, length) != 0 {
            _ = setsockopt(descriptor, SOL_SOCKET, plain, &wanted, length)
        }
        return current()
    }
}

/// Writes IPVS requests straight into a caller's buffer: no libnl message, no allocation per message. The layout
/// is IPVSRequest.encode's (libipvs's) byte for byte; a host test compares the two for every kind of request.
enum IPVSMessageWriter {
    #if !_endian(little)
        #error("IPVSMessageWriter.Cursor.attribute64 assumes a little-endian host")
    #endif
    /// Writes `request` at `offset` and returns its length (4-byte aligned), or nil when it does not fit.
    static func write(
        _ request: IPVSRequest, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, family: UInt16,
        sequence: UInt32, portID: UInt32, acknowledge: Bool
    ) -> Int? {
        var w = Cursor(buffer: buffer, start: offset)
        let flags =
            UInt16(NLM_F_REQUEST) | (acknowledge ? UInt16(NLM_F_ACK) : 0) | (request.isDump ? UInt16(NLM_F_DUMP) : 0)
        // nlmsghdr: length (patched at the end), type, flags, sequence, port; then genlmsghdr.
        guard w.room(20) else { return nil }
        w.u32(0)
        w.u16(family)
        w.u16(flags)
        w.u32(sequence)
        w.u32(portID)
        w.u8(request.command)
        w.u8(UInt8(IPVS_GENL_VERSION))
        w.u16(0)
        switch request.body {
        case .none:
            break
        case .service(let service, let keyOnly):
            guard w.room(Self.serviceSize(service, keyOnly: keyOnly, request.schedulerName) + 4) else { return nil }
            let nest = w.begin(IPVS_CMD_ATTR_SERVICE)
            putService(service, keyOnly: keyOnly, schedulerName: request.schedulerName, &w)
            w.end(nest)
        case .destination(let service, let server, let keyOnly):
            guard w.room(Self.serviceSize(service, keyOnly: true, nil) + 4 + destinationNestSize) else { return nil }
            let s = w.begin(IPVS_CMD_ATTR_SERVICE)
            putService(service, keyOnly: true, schedulerName: nil, &w)
            w.end(s)
            putDestination(server, keyOnly: keyOnly, &w)
        default:
            // Timeouts and whatever else: through the libnl encoder (rare, never in bulk).
            guard let bytes = try? request.encode(family: family, sequence: sequence, portID: portID),
                offset + bytes.count <= buffer.count
            else { return nil }
            buffer.baseAddress!.advanced(by: offset).copyMemory(from: bytes, byteCount: bytes.count)
            let patched = UInt16(NLM_F_REQUEST) | (acknowledge ? UInt16(NLM_F_ACK) : 0)
            buffer.storeBytes(of: patched, toByteOffset: offset + 6, as: UInt16.self)
            return (bytes.count + 3) & ~3
        }
        let length = w.position - offset
        buffer.storeBytes(of: UInt32(length), toByteOffset: offset, as: UInt32.self)
        return length
    }

    /// Room a destination nest needs at most (IPv6, every field).
    static let destinationNestSize = 104

    /// The most bytes ``write(_:into:at:family:sequence:portID:acknowledge:)`` needs for `request`, the room it
    /// asks beyond the message included (a request it encodes through libnl: a generous bound).
    static func maximumSize(_ request: IPVSRequest) -> Int {
        switch request.body {
        case .none: return 20 + 20
        case .service(let service, let keyOnly):
            return 20 + serviceSize(service, keyOnly: keyOnly, request.schedulerName) + 4 + 20
        case .destination(let service, _, _):
            return 20 + serviceSize(service, keyOnly: true, nil) + 4 + destinationNestSize + 20
        default: return 1024
        }
    }

    /// The IPVS_CMD_ATTR_DEST nest (libipvs `ipvs_nl_fill_dest_attr`'s layout).
    @inline(__always)
    static func putDestination(_ server: RealServer, keyOnly: Bool, _ w: inout Cursor) {
        let d = w.begin(IPVS_CMD_ATTR_DEST)
        w.u16Attribute(IPVS_DEST_ATTR_ADDR_FAMILY, server.address.family.kernelValue)
        w.address(IPVS_DEST_ATTR_ADDR, server.address)
        w.u16Attribute(IPVS_DEST_ATTR_PORT, server.port.bigEndian)
        if !keyOnly {
            w.u32Attribute(IPVS_DEST_ATTR_FWD_METHOD, server.forwarding.rawValue)
            w.u32Attribute(IPVS_DEST_ATTR_WEIGHT, UInt32(bitPattern: server.weight))
            w.u8Attribute(IPVS_DEST_ATTR_TUN_TYPE, server.tunnelType.rawValue)
            w.u16Attribute(IPVS_DEST_ATTR_TUN_PORT, server.tunnelPort.bigEndian)
            w.u16Attribute(IPVS_DEST_ATTR_TUN_FLAGS, server.tunnelFlags.rawValue)
            w.u32Attribute(IPVS_DEST_ATTR_U_THRESH, server.upperThreshold)
            w.u32Attribute(IPVS_DEST_ATTR_L_THRESH, server.lowerThreshold)
        }
        w.end(d)
    }

    /// nlmsghdr (length patched by the caller) and genlmsghdr: 20 bytes.
    @inline(__always)
    static func putHeader(
        _ w: inout Cursor, family: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, command: UInt8
    ) {
        w.u32(0)
        w.u16(family)
        w.u16(flags)
        w.u32(sequence)
        w.u32(portID)
        w.u8(command)
        w.u8(UInt8(IPVS_GENL_VERSION))
        w.u16(0)
    }

    /// An upper bound of a service nest's content.
    static func serviceSize(_ s: VirtualService, keyOnly: Bool, _ schedulerName: String?) -> Int {
        // AF 8, FWMARK 8 or PROTOCOL 8 + ADDR 20 + PORT 8.
        var size = 44
        if keyOnly { return size }
        size += 4 + ((schedulerName?.utf8.count ?? s.scheduler.rawValue.utf8.count) + 1 + 3) & ~3
        if let pe = s.persistenceEngine { size += 4 + ((pe.utf8.count + 1 + 3) & ~3) }
        return size + 12 + 8 + 8
    }

    static func putService(
        _ s: VirtualService, keyOnly: Bool, schedulerName: String?, _ w: inout Cursor
    ) {
        w.u16Attribute(IPVS_SVC_ATTR_AF, s.key.family.kernelValue)
        switch s.key {
        case .firewallMark(let mark, _):
            w.u32Attribute(IPVS_SVC_ATTR_FWMARK, mark)
        case .address(let proto, let address, let port):
            w.u16Attribute(IPVS_SVC_ATTR_PROTOCOL, proto.rawValue)
            w.address(IPVS_SVC_ATTR_ADDR, address)
            w.u16Attribute(IPVS_SVC_ATTR_PORT, port.bigEndian)
        }
        if keyOnly { return }
        w.string(IPVS_SVC_ATTR_SCHED_NAME, schedulerName ?? s.scheduler.rawValue)
        if let engine = s.persistenceEngine { w.string(IPVS_SVC_ATTR_PE_NAME, engine) }
        // struct ip_vs_flags { flags, mask }.
        w.header(IPVS_SVC_ATTR_FLAGS, 8)
        w.u32(s.flags.subtracting(.hashed).rawValue)
        w.u32(UInt32.max)
        w.u32Attribute(IPVS_SVC_ATTR_TIMEOUT, s.persistenceTimeout)
        w.u32Attribute(IPVS_SVC_ATTR_NETMASK, s.kernelNetmask)
    }

    /// A write position in a raw buffer. Bounds are checked once per request (``room(_:)``), not per field.
    struct Cursor {
        let buffer: UnsafeMutableRawBufferPointer
        var position: Int

        init(buffer: UnsafeMutableRawBufferPointer, start: Int) {
            self.buffer = buffer
            self.position = start
        }

        func room(_ bytes: Int) -> Bool { buffer.count - position >= bytes + 20 }

        @inline(__always) mutating func u8(_ v: UInt8) {
            buffer.storeBytes(of: v, toByteOffset: position, as: UInt8.self)
            position += 1
        }
        @inline(__always) mutating func u16(_ v: UInt16) {
            buffer.storeBytes(of: v, toByteOffset: position, as: UInt16.self)
            position += 2
        }
        @inline(__always) mutating func u32(_ v: UInt32) {
            buffer.storeBytes(of: v, toByteOffset: position, as: UInt32.self)
            position += 4
        }
        @inline(__always) mutating func header(_ type: Int, _ payload: Int) {
            u16(UInt16(truncatingIfNeeded: 4 &+ payload))
            u16(UInt16(truncatingIfNeeded: type))
        }
        /// Zero padding up to the next 4-byte boundary (NLA_ALIGN).
        @inline(__always) mutating func pad() {
            while position & 3 != 0 { u8(0) }
        }
        /// A whole small attribute in one 8-byte store: nlattr {len, type} in the low half, the value and its
        /// zero padding in the high half (netlink is host-endian; the targets are little-endian).
        @inline(__always) mutating func attribute64(_ length: UInt64, _ type: Int, _ value: UInt64) {
            buffer.storeBytes(
                of: length | UInt64(truncatingIfNeeded: type) &<< 16 | value &<< 32, toByteOffset: position,
                as: UInt64.self)
            position &+= 8
        }
        @inline(__always) mutating func u8Attribute(_ type: Int, _ v: UInt8) { attribute64(5, type, UInt64(v)) }
        @inline(__always) mutating func u16Attribute(_ type: Int, _ v: UInt16) { attribute64(6, type, UInt64(v)) }
        @inline(__always) mutating func u32Attribute(_ type: Int, _ v: UInt32) { attribute64(8, type, UInt64(v)) }
        /// union nf_inet_addr: 16 bytes, an IPv4 address in the first 4.
        @inline(__always) mutating func address(_ type: Int, _ a: IPAddress) {
            switch a {
            case .v4(let v4):
                attribute64(20, type, UInt64(v4.value.bigEndian))
                buffer.storeBytes(of: UInt64(0), toByteOffset: position, as: UInt64.self)
                buffer.storeBytes(of: UInt32(0), toByteOffset: position &+ 8, as: UInt32.self)
                position &+= 12
            case .v6(let v6):
                header(type, 16)
                buffer.storeBytes(of: v6.high.bigEndian, toByteOffset: position, as: UInt64.self)
                buffer.storeBytes(of: v6.low.bigEndian, toByteOffset: position &+ 8, as: UInt64.self)
                position &+= 16
            }
        }
        /// A NUL-terminated string (nla_put_string).
        mutating func string(_ type: Int, _ s: String) {
            var s = s
            s.withUTF8 { utf8 in
                header(type, utf8.count + 1)
                UnsafeMutableRawBufferPointer(rebasing: buffer[position..<position + utf8.count])
                    .copyMemory(from: UnsafeRawBufferPointer(utf8))
                position += utf8.count
            }
            u8(0)
            pad()
        }
        /// Starts a nest (nla_nest_start, which marks it NLA_F_NESTED); returns where its header is.
        mutating func begin(_ type: Int) -> Int {
            let at = position
            header(type | Int(NLA_F_NESTED), 0)
            return at
        }
        mutating func end(_ at: Int) {
            buffer.storeBytes(of: UInt16(position - at), toByteOffset: at, as: UInt16.self)
        }
    }
}

extension IPVSHandle {
    /// Encodes a plan's steps as ``KernelMirror/apply(plan:)`` would, without sending: tools/bench/kernel-sync.
    public static func measureEncoding(_ plan: MirrorPlan) -> Duration {
        measureEncoding(PlanMessages(plan))
    }

    static func measureEncoding<Messages: BatchMessages>(_ messages: Messages) -> Duration {
        var out = [UInt8](repeating: 0, count: batchSendLimit)
        let clock = ContinuousClock()
        let start = clock.now
        out.withUnsafeMutableBytes { buffer in
            var length = 0
            for i in 0..<messages.count {
                if let n = messages.write(
                    i, into: buffer, at: length, family: 0x1c, sequence: UInt32(truncatingIfNeeded: i), portID: 1,
                    acknowledge: false)
                {
                    length += n
                } else {
                    length = 0
                }
            }
        }
        return clock.now - start
    }

    /// Encodes `requests` as a batch would, into one reused 1 MiB buffer, without sending: the user-space share of a
    /// batch's cost, for tools/bench/kernel-sync.
    public static func measureEncoding(_ requests: [IPVSRequest]) -> Duration {
        var out = [UInt8](repeating: 0, count: batchSendLimit)
        let clock = ContinuousClock()
        let start = clock.now
        out.withUnsafeMutableBytes { buffer in
            var length = 0
            for (i, request) in requests.enumerated() {
                if let n = IPVSMessageWriter.write(
                    request, into: buffer, at: length, family: 0x1c, sequence: UInt32(truncatingIfNeeded: i),
                    portID: 1, acknowledge: false)
                {
                    length += n
                } else {
                    length = 0
                }
            }
        }
        return clock.now - start
    }
}

extension IPVSHandle {
    /// The service dump, repeated until two in a row agree.
    ///
    /// The kernel's service tables are shared by every network namespace, and a dump resumes each step by counting
    /// the services of all namespaces it walked past (ip_vs_ctl.c `ip_vs_genl_dump_services`: `++idx <= start`
    /// counts before the namespace check). A service added or deleted anywhere, in any namespace, between two steps
    /// of a dump shifts that count: the dump then repeats some services (an addition) or skips some (a deletion).
    /// Even a dump that fits one step has a second, empty one, so a small dump can repeat but not skip. Two dumps in
    /// a row with the same services, each without a repeat, were not disturbed (a change between them would show).
    ///
    /// - Parameter attempts: dumps at most; after that the union of all of them is returned (see
    ///   ``consistentServices(attempts:)``, which says when that happened).
    public mutating func servicesConsistently(attempts: Int = 8) throws(IPVSError) -> [IPVSServiceEntry] {
        try consistentServices(attempts: attempts).entries
    }

    /// As ``servicesConsistently(attempts:)``, and whether two dumps agreed (`confirmed`).
    ///
    /// Unconfirmed (services added or deleted in other namespaces kept shifting every dump), the entries are the
    /// union of all the dumps, each service once, as the last dump that listed it reported it, in the last dump's
    /// order and then the others'. A disturbed dump skips services at the places the count shifted, which differ
    /// from dump to dump, so a service of this namespace is missing only if every dump skipped it. A service this
    /// namespace deleted meanwhile can be among them: its destination dump then answers ESRCH.
    public mutating func consistentServices(attempts: Int = 8) throws(IPVSError) -> (
        entries: [IPVSServiceEntry], confirmed: Bool
    ) {
        var previous: Set<ServiceKey>? = nil
        var dumps: [[IPVSServiceEntry]] = []
        for _ in 0..<max(2, attempts) {
            let (entries, repeated) = try servicesDump()
            dumps.append(entries)
            if repeated {
                previous = nil
                continue
            }
            let keys = Set(entries.map(\.service.key))
            if let previous, previous == keys { return (entries, true) }
            previous = keys
        }
        var union: [IPVSServiceEntry] = []
        var listed = Set<ServiceKey>()
        for dump in dumps.reversed() {
            for entry in dump where listed.insert(entry.service.key).inserted { union.append(entry) }
        }
        return (union, false)
    }
}

/// A list of messages for the batch engine (``IPVSHandle/perform(batchOf:)``): each writes itself into the send
/// buffer, and names its operation and request for the errors. Generic, so each kind of list is specialised.
protocol BatchMessages {
    var count: Int { get }
    func operation(at index: Int) -> IPVSError.Operation
    func request(at index: Int) -> IPVSRequest
    /// Writes message `index` at `offset` and returns its length (4-byte aligned), or nil when it does not fit.
    func write(
        _ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, family: UInt16, sequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> Int?
    /// Writes messages `from`, `from + 1`, … one after the other from the buffer's start, while they fit and fewer
    /// than `limit`; message `from + k` gets sequence number `firstSequence + k`. Returns how many it wrote, their
    /// length, and where the last one starts.
    func writeRun(
        from: Int, limit: Int, into buffer: UnsafeMutableRawBufferPointer, family: UInt16, firstSequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> (count: Int, length: Int, lastOffset: Int)
}

extension BatchMessages {
    /// One ``write(_:into:at:family:sequence:portID:acknowledge:)`` after the other.
    func writeRun(
        from: Int, limit: Int, into buffer: UnsafeMutableRawBufferPointer, family: UInt16, firstSequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> (count: Int, length: Int, lastOffset: Int) {
        var next = from
        var length = 0
        var lastOffset = 0
        while next < count, next - from < limit {
            let written = write(
                next, into: buffer, at: length, family: family,
                sequence: firstSequence &+ UInt32(truncatingIfNeeded: next - from), portID: portID,
                acknowledge: acknowledge)
            guard let written else { break }
            lastOffset = length
            length += written
            next += 1
        }
        return (next - from, length, lastOffset)
    }
}

/// The requests of ``IPVSHandle/perform(batch:)``.
struct RequestMessages: BatchMessages {
    let requests: [IPVSRequest]
    var count: Int { requests.count }
    func operation(at index: Int) -> IPVSError.Operation { requests[index].operation }
    func request(at index: Int) -> IPVSRequest { requests[index] }
    func write(
        _ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, family: UInt16, sequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> Int? {
        IPVSMessageWriter.write(
            requests[index], into: buffer, at: offset, family: family, sequence: sequence, portID: portID,
            acknowledge: acknowledge)
    }
}

/// Requests encoded into netlink messages ahead of their batch, off the thread that sends them: `ipvsctl -R`'s
/// reading thread encodes each chunk of changes while the main thread sends the one before, so the sending thread
/// (where the kernel does its work) only copies bytes. The messages are IPVSMessageWriter's, with sequence number 0
/// and no acknowledgement flag; ``IPVSHandle/perform(batch:)-(IPVSEncodedBatch)`` sets both as it copies them.
public struct IPVSEncodedBatch: Sendable {
    public let requests: [IPVSRequest]
    let family: UInt16
    let portID: UInt32
    /// The messages one after the other; message `i` is `bytes[offsets[i]..<offsets[i + 1]]`.
    let bytes: [UInt8]
    let offsets: [Int]

    /// Encodes `requests` (changes only, as ``IPVSHandle/perform(batch:)-([IPVSRequest])``) for a handle's family
    /// and port id (``IPVSHandle/familyID``, ``IPVSHandle/portID``).
    public init(_ requests: [IPVSRequest], family: UInt16, portID: UInt32) {
        self.init(requests, family: family, portID: portID, bound: IPVSMessageWriter.maximumSize)
    }

    /// `bound`: the room a request's message takes at most (a test gives too little, so that the room doubles).
    init(_ requests: [IPVSRequest], family: UInt16, portID: UInt32, bound: (IPVSRequest) -> Int) {
        for (index, request) in requests.enumerated() {
            precondition(!request.isRead, "request \(index) of the batch reads (\(request.operation.rawValue))")
        }
        self.requests = requests
        self.family = family
        self.portID = portID
        // Written in one piece of the size the messages can take at most, left uninitialized: only the bytes
        // written are kept (a chunk of `-R` is 8192 messages; growing a guessed buffer copied them, and zeroing it
        // first cost as much as writing them). Should a message exceed its bound (none does), all are written again
        // into twice the room.
        var room = 64
        for request in requests { room += bound(request) }
        var offsets = [Int]()
        offsets.reserveCapacity(requests.count + 1)
        while true {
            var fits = true
            offsets.removeAll(keepingCapacity: true)
            let bytes = [UInt8](unsafeUninitializedCapacity: room) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                var length = 0
                for request in requests {
                    guard
                        let written = IPVSMessageWriter.write(
                            request, into: raw, at: length, family: family, sequence: 0, portID: portID,
                            acknowledge: false)
                    else {
                        fits = false
                        break
                    }
                    offsets.append(length)
                    length += written
                }
                initialized = fits ? length : 0
            }
            if fits {
                offsets.append(bytes.count)
                self.bytes = bytes
                self.offsets = offsets
                return
            }
            precondition(room < 1 << 30, "IPVS requests that do not fit 1 GiB")
            room *= 2
        }
    }
}

/// The messages of an ``IPVSEncodedBatch``: copied, with the sequence number and the acknowledgement flag set.
struct EncodedMessages: BatchMessages {
    let batch: IPVSEncodedBatch
    var count: Int { batch.requests.count }
    func operation(at index: Int) -> IPVSError.Operation { batch.requests[index].operation }
    func request(at index: Int) -> IPVSRequest { batch.requests[index] }
    func write(
        _ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, family: UInt16, sequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> Int? {
        let start = batch.offsets[index]
        let length = batch.offsets[index + 1] - start
        guard offset + length <= buffer.count else { return nil }
        batch.bytes.withUnsafeBytes { from in
            buffer.baseAddress!.advanced(by: offset).copyMemory(from: from.baseAddress! + start, byteCount: length)
        }
        Self.stamp(buffer, at: offset, sequence: sequence, acknowledge: acknowledge)
        return length
    }

    /// Sets the sequence number of the copied message at `offset`, and its acknowledgement flag when asked (the
    /// batch encoded both as 0).
    @inline(__always)
    static func stamp(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int, sequence: UInt32, acknowledge: Bool) {
        buffer.storeBytes(of: sequence, toByteOffset: offset + 8, as: UInt32.self)
        if acknowledge {
            let flags = buffer.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self) | UInt16(NLM_F_ACK)
            buffer.storeBytes(of: flags, toByteOffset: offset + 6, as: UInt16.self)
        }
    }

    /// The messages that fit, copied at once (they lie one after the other in the batch), then each one's sequence
    /// number (and flag) set in place: the sending thread's work per message is a store or two.
    func writeRun(
        from: Int, limit: Int, into buffer: UnsafeMutableRawBufferPointer, family: UInt16, firstSequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> (count: Int, length: Int, lastOffset: Int) {
        batch.offsets.withUnsafeBufferPointer { offsets in
            let base = offsets[from]
            // The most messages that fit the buffer and the limit: `end` is one past the last.
            var end = min(from + limit, count)
            if offsets[end] - base > buffer.count {
                var low = from  // fits (nothing)
                var high = end  // does not fit
                while high - low > 1 {
                    let middle = low + (high - low) / 2
                    if offsets[middle] - base <= buffer.count { low = middle } else { high = middle }
                }
                end = low
            }
            guard end > from else { return (0, 0, 0) }
            let length = offsets[end] - base
            batch.bytes.withUnsafeBytes { bytes in
                buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + base, byteCount: length)
            }
            var sequence = firstSequence
            for i in from..<end {
                Self.stamp(buffer, at: offsets[i] - base, sequence: sequence, acknowledge: acknowledge)
                sequence &+= 1
            }
            return (end - from, length, offsets[end - 1] - base)
        }
    }
}

/// A plan's steps, written straight from its compact entries: the key nest (IPVS_CMD_ATTR_SERVICE) of each of its
/// services is encoded once and copied into each destination message of that service, so a destination message
/// costs a header, one copy and its own attributes. Service steps (one per service) go through
/// ``IPVSMessageWriter/write(_:into:at:family:sequence:portID:acknowledge:)``. Same bytes either way (a host test
/// compares them).
struct PlanMessages: BatchMessages {
    let plan: MirrorPlan
    /// Service `i`'s key nest at `i * keyStride`, its length in its first two bytes (nla_len).
    let keys: [UInt8]
    /// An IPv6 address key: nest header 4 + AF 8 + PROTOCOL 8 + ADDR 20 + PORT 8.
    static let keyStride = 48

    init(_ plan: MirrorPlan) {
        self.plan = plan
        var keys = [UInt8](repeating: 0, count: plan.services.count * Self.keyStride)
        keys.withUnsafeMutableBytes { buffer in
            for (i, service) in plan.services.enumerated() {
                var w = IPVSMessageWriter.Cursor(buffer: buffer, start: i * Self.keyStride)
                let nest = w.begin(IPVS_CMD_ATTR_SERVICE)
                IPVSMessageWriter.putService(service, keyOnly: true, schedulerName: nil, &w)
                w.end(nest)
            }
        }
        self.keys = keys
    }

    var count: Int { plan.count }

    func operation(at index: Int) -> IPVSError.Operation {
        switch plan.kind(at: index) {
        case .addService: return .addService
        case .editService: return .editService
        case .deleteService: return .deleteService
        case .addDestination: return .addDestination
        case .editDestination, .drainDestination, .restoreDestination: return .editDestination
        case .deleteDestination: return .deleteDestination
        }
    }

    func request(at index: Int) -> IPVSRequest { plan.request(at: index) }

    func write(
        _ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, family: UInt16, sequence: UInt32,
        portID: UInt32, acknowledge: Bool
    ) -> Int? {
        let entry = plan.entries[index]
        let command: Int
        let keyOnly: Bool
        switch entry.kind {
        case .addService, .editService, .deleteService:
            return IPVSMessageWriter.write(
                plan.request(at: index), into: buffer, at: offset, family: family, sequence: sequence,
                portID: portID, acknowledge: acknowledge)
        case .addDestination: (command, keyOnly) = (IPVS_CMD_NEW_DEST, false)
        case .editDestination, .drainDestination, .restoreDestination: (command, keyOnly) = (IPVS_CMD_SET_DEST, false)
        case .deleteDestination: (command, keyOnly) = (IPVS_CMD_DEL_DEST, true)
        }
        var w = IPVSMessageWriter.Cursor(buffer: buffer, start: offset)
        guard w.room(20 + Self.keyStride + IPVSMessageWriter.destinationNestSize) else { return nil }
        IPVSMessageWriter.putHeader(
            &w, family: family, flags: UInt16(NLM_F_REQUEST) | (acknowledge ? UInt16(NLM_F_ACK) : 0),
            sequence: sequence, portID: portID, command: UInt8(command))
        keys.withUnsafeBytes { keys in
            let start = Int(entry.service) * Self.keyStride
            let length = Int(keys.loadUnaligned(fromByteOffset: start, as: UInt16.self))
            buffer.baseAddress!.advanced(by: w.position).copyMemory(
                from: keys.baseAddress!.advanced(by: start), byteCount: length)
            w.position += length
        }
        IPVSMessageWriter.putDestination(entry.server!, keyOnly: keyOnly, &w)
        let length = w.position - offset
        buffer.storeBytes(of: UInt32(length), toByteOffset: offset, as: UInt32.self)
        return length
    }
}
