import CNetlink

/// One netlink message in a receive buffer: its header fields and where it lies. Pure byte parsing, no I/O.
public struct NetlinkFrame: Hashable, Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// The whole message, header included.
    public var bytes: [UInt8]

    /// NLMSG_ERROR's error field: 0 for an acknowledgement, a negative errno for a failure; nil for other types.
    public var errorCode: Int32? {
        guard type == UInt16(NLMSG_ERROR) || type == UInt16(NLMSG_DONE), bytes.count >= 20
        else { return nil }
        return Int32(bitPattern: Self.u32(bytes, 16))
    }

    static let headerSize = 16

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }

    /// Splits what one recv returned into messages (NLMSG_OK / NLMSG_NEXT, 4-byte aligned).
    public static func split(_ buffer: some Collection<UInt8>) throws(IPVSCodecError) -> [NetlinkFrame] {
        let b = Array(buffer)
        var frames: [NetlinkFrame] = []
        var offset = 0
        while b.count - offset >= headerSize {
            let length = Int(u32(b, offset))
            guard length >= headerSize, offset + length <= b.count else { throw .truncated }
            let message = Array(b[offset..<offset + length])
            frames.append(
                NetlinkFrame(
                    type: UInt16(message[4]) | UInt16(message[5]) << 8,
                    flags: UInt16(message[6]) | UInt16(message[7]) << 8,
                    sequence: u32(message, 8),
                    portID: u32(message, 12),
                    bytes: message))
            offset += (length + 3) & ~3
        }
        return frames
    }
}
