import Foundation
import IPVSNetlink
import Testing

/// The messages of Fixtures/ipvsadm-kernel.txt (written by Fixtures/capture in the kernel VM): for each ipvsadm
/// command, what ipvsadm sent to the kernel's IPVS and what the kernel answered.
struct GoldenVectors {
    struct Block {
        var command: String
        var sent: [[UInt8]] = []
        var received: [[UInt8]] = []

        /// The IPVS request with generic netlink command `command` (ipvsadm sends GET_INFO first, every time).
        func request(_ command: Int) -> [UInt8]? { sent.first { $0.count > 16 && Int($0[16]) == command } }

        /// The kernel's data replies: neither NLMSG_ERROR nor NLMSG_DONE.
        var dataReplies: [[UInt8]] { received.filter { !(2...3).contains(Int($0[4]) | Int($0[5]) << 8) } }
    }

    var blocks: [Block] = []

    static let shared: GoldenVectors = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ipvsadm-kernel.txt").path
        // A missing fixture is a broken checkout: fail loudly.
        let text = try! String(contentsOfFile: path, encoding: .utf8)
        var vectors = GoldenVectors()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# ipvsadm ") {
                vectors.blocks.append(Block(command: String(line.dropFirst("# ipvsadm ".count))))
            } else if line.hasPrefix("> ") {
                vectors.blocks[vectors.blocks.count - 1].sent.append(bytes(hex: line.dropFirst(2)))
            } else if line.hasPrefix("< ") {
                vectors.blocks[vectors.blocks.count - 1].received.append(bytes(hex: line.dropFirst(2)))
            }
        }
        return vectors
    }()

    /// The `occurrence`-th block (0-based) of `command`.
    func block(_ command: String, occurrence: Int = 0) -> Block? {
        let matching = blocks.filter { $0.command == command }
        return occurrence < matching.count ? matching[occurrence] : nil
    }

    static func bytes(hex: Substring) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }
}

/// Netlink header fields of a captured message, to encode ours with the same family id, sequence and port id.
struct CapturedHeader {
    var family: UInt16
    var sequence: UInt32
    var portID: UInt32

    init(_ m: [UInt8]) throws {
        // A captured request is one whole message: NetlinkFrame reads its header (the type is the family id).
        let frame = try #require(try NetlinkFrame.split(m).first)
        family = frame.type
        sequence = frame.sequence
        portID = frame.portID
    }
}

/// One netlink attribute of a message: type (without flags), payload, children when nested.
///
/// The kernel does not mark its nests with NLA_F_NESTED (ip_vs_ctl.c uses nla_nest_start_noflag), so which types
/// nest is known here: IPVS_CMD_ATTR_SERVICE/DEST/DAEMON at the top, and STATS/STATS64 inside a service or
/// destination (type 10 and 12 in both).
struct Attribute: Equatable, CustomStringConvertible {
    var type: Int
    var payload: [UInt8]
    var children: [Attribute]
    /// The sender set NLA_F_NESTED.
    var flaggedNested = false

    var description: String {
        children.isEmpty
            ? "\(type)=\(payload.map { String($0, radix: 16) }.joined(separator: " "))"
            : "\(type){\(children.map(\.description).joined(separator: ", "))}"
    }

    /// The attributes after the netlink and generic netlink headers (20 bytes) of an IPVS command message.
    static func top(_ message: [UInt8]) -> [Attribute] { parse(Array(message.dropFirst(20)), depth: 0) }

    static func parse(_ b: [UInt8], depth: Int) -> [Attribute] {
        let nests: Set<Int> = depth == 0 ? [1, 2, 3] : depth == 1 ? [10, 12] : []
        var out: [Attribute] = []
        var o = 0
        while o + 4 <= b.count {
            let length = Int(b[o]) | Int(b[o + 1]) << 8
            let rawType = Int(b[o + 2]) | Int(b[o + 3]) << 8
            guard length >= 4, o + length <= b.count else { break }
            let payload = Array(b[o + 4..<o + length])
            let type = rawType & 0x3fff
            out.append(
                Attribute(
                    type: type, payload: payload,
                    children: nests.contains(type) ? parse(payload, depth: depth + 1) : [],
                    flaggedNested: rawType & 0x8000 != 0))
            o += (length + 3) & ~3
        }
        return out
    }
}
