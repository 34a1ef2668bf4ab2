import CNetlink
import Glibc

extension IPVSHandle {
    /// A dump whose messages are decoded where they lie in the receive buffer, as ``perform(_:_:)`` and
    /// `decodeAll` would return them but without a copy per message (``NetlinkFrame`` holds each in an Array):
    /// the table reads of a mirror pass decode thousands of services.
    mutating func dumpInPlace<T>(
        _ request: IPVSRequest, _ operation: IPVSError.Operation,
        _ decode: (UnsafeRawBufferPointer) throws(IPVSCodecError) -> T
    ) throws(IPVSError) -> [T] {
        let descriptor = self.descriptor
        let portID = self.portID
        sequence &+= 1
        let expected = sequence
        let message: [UInt8]
        do {
            message = try request.encode(family: familyID, sequence: expected, portID: portID)
        } catch { throw IPVSError(operation, .malformedReply(error)) }
        readRequestsSent += 1
        _ = try Self.retryingEINTR(operation, "send") {
            message.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
        }
        var values: [T] = []
        while true {
            let result: Result<Bool, IPVSError> = buffer.withUnsafeMutableBytes { whole in
                let count: Int
                var sender: UInt32 = 0
                do throws(IPVSError) {
                    count = try Self.retryingEINTR(operation, "recv") {
                        Self.receive(descriptor, whole, flags: 0, sender: &sender)
                    }
                } catch { return .failure(error) }
                // Another socket wrote to this one: not an answer.
                if sender != 0 { return .success(false) }
                let b = UnsafeRawBufferPointer(rebasing: whole[..<count])
                var offset = 0
                while b.count - offset >= NetlinkFrame.headerSize {
                    let length = Int(b.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    guard length >= NetlinkFrame.headerSize, offset + length <= b.count else {
                        return .failure(IPVSError(operation, .malformedReply(.truncated)))
                    }
                    let type = b.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)
                    let seq = b.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                    let port = b.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)
                    let at = offset
                    offset += (length + 3) & ~3
                    // A reply to another request (one that timed out earlier) or from another sender: not ours.
                    guard seq == expected, port == portID else { continue }
                    // NLMSG_ERROR and NLMSG_DONE carry an error code after the header (as NetlinkFrame.errorCode).
                    let code: Int32? =
                        length >= 20 ? b.loadUnaligned(fromByteOffset: at + 16, as: Int32.self) : nil
                    switch Int32(type) {
                    case NLMSG_ERROR:
                        let c = code ?? -EPROTO
                        return c != 0 ? .failure(IPVSError(operation, .kernel(errno: -c))) : .success(true)
                    case NLMSG_DONE:
                        if let c = code, c < 0 { return .failure(IPVSError(operation, .kernel(errno: -c))) }
                        return .success(true)
                    case NLMSG_NOOP:
                        continue
                    default:
                        do throws(IPVSCodecError) {
                            values.append(try decode(UnsafeRawBufferPointer(rebasing: b[at..<at + length])))
                        } catch { return .failure(IPVSError(operation, .malformedReply(error))) }
                    }
                }
                return .success(false)
            }
            if try result.get() { return values }
        }
    }
}
