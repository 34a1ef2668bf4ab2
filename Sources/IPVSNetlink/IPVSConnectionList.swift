import CIPVSLinux
import Glibc
import IPVSCore

/// One entry of the kernel's IPVS connection table, as /proc/net/ip_vs_conn shows it: a connection, or a
/// persistence template (the entry that keeps a client on its destination for a persistent service).
public struct IPVSConnectionEntry: Hashable, Sendable {
    /// The protocol as the kernel names it (ip_vs_core.c `ip_vs_proto_name`): "TCP", "UDP", "SCTP", "IP" for the
    /// templates of fwmark services, "IP_<n>" for any other protocol number.
    public var protocolName: String
    public var client: IPAddress
    public var clientPort: UInt16
    public var virtualAddress: IPAddress
    public var virtualPort: UInt16
    /// The real server. Its family may differ from the client's (an IPv4 service tunnelled to an IPv6 server).
    public var destination: IPAddress
    public var destinationPort: UInt16
    /// The protocol state name (ip_vs_proto_tcp.c `tcp_state_name_table`: "ESTABLISHED", "TIME_WAIT", ...; "UDP" for
    /// UDP), or for a template "NONE" or "ASSURED" (ip_vs_conn.c `ip_vs_ctpl_state_name_table`).
    public var state: String
    /// Seconds left before the entry expires.
    public var expiresInSeconds: UInt32
    /// The persistence engine ("sip") and its data (the Call-ID) of an entry made by one; nil otherwise.
    public var persistenceEngine: String?
    public var persistenceData: String?

    public init(
        protocolName: String, client: IPAddress, clientPort: UInt16, virtualAddress: IPAddress, virtualPort: UInt16,
        destination: IPAddress, destinationPort: UInt16, state: String, expiresInSeconds: UInt32,
        persistenceEngine: String? = nil, persistenceData: String? = nil
    ) {
        self.protocolName = protocolName
        self.client = client
        self.clientPort = clientPort
        self.virtualAddress = virtualAddress
        self.virtualPort = virtualPort
        self.destination = destination
        self.destinationPort = destinationPort
        self.state = state
        self.expiresInSeconds = expiresInSeconds
        self.persistenceEngine = persistenceEngine
        self.persistenceData = persistenceData
    }

    /// TCP, UDP or SCTP; nil for "IP" (fwmark templates) and other protocols.
    public var ipProtocol: IPProtocol? { IPProtocol.allCases.first { $0.description == protocolName } }

    /// A persistence template rather than a connection. The file does not say so directly: a template has client
    /// port 0 (ip_vs_core.c `ip_vs_sched_persist` makes it with cport 0) and a template state, and no real TCP,
    /// UDP or SCTP connection has port 0.
    public var isTemplate: Bool { clientPort == 0 && (state == "NONE" || state == "ASSURED") }
}

/// The connection table could not be listed: a line of /proc/net/ip_vs_conn that does not have the kernel's form
/// (its number from 1, the header, its text and what is wrong with it), or the file could not be read.
public enum IPVSConnectionListError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformedLine(line: Int, text: String, problem: String)
    /// Opening or reading the file failed (`.ipvsNotInKernel` when there is no such file).
    case unreadable(IPVSError)

    /// The malformed line's number.
    public var line: Int? {
        if case .malformedLine(let line, _, _) = self { return line }
        return nil
    }

    public var description: String {
        switch self {
        case .malformedLine(let line, let text, let problem):
            return "\(IPVSConnectionList.path) line \(line): \(problem): \"\(text)\""
        case .unreadable(let error): return error.description
        }
    }
}

/// The kernel's IPVS connections. The kernel has no netlink dump of them: this parses /proc/net/ip_vs_conn, which
/// ip_vs_conn.c `ip_vs_conn_seq_show` writes one entry a line after a header:
///
///     Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
///     TCP 0AFA0002 843E 0AFA0001 1F90 0AFA0102 0050 TIME_WAIT       116
///     UDP fd00:0000:0000:0000:0000:0000:0000:0002 8719 fd00:0000:...:0001 0035 fd00:0001:...:0002 0035 UDP  299
///
/// IPv4 addresses are 8 hex digits in network order, IPv6 ones the full colon form (`%pI6`), ports 4 hex digits,
/// the expiry decimal seconds, then for entries of a persistence engine its name and data.
public enum IPVSConnectionList {
    public static let path = "/proc/net/ip_vs_conn"
    static let header = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"

    /// Parses the whole text of the file. Any line that does not have the kernel's form fails the whole parse, with
    /// its number: a partial list would hide connections.
    public static func parse(_ text: String) throws(IPVSConnectionListError) -> [IPVSConnectionEntry] {
        var entries: [IPVSConnectionEntry] = []
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            if number == 1 {
                guard line == header else {
                    throw .malformedLine(line: 1, text: String(line), problem: "not the ip_vs_conn header")
                }
                continue
            }
            if line.isEmpty { continue }
            entries.append(try entry(line, number))
        }
        if number == 0 || (number == 1 && text.isEmpty) {
            throw .malformedLine(line: 1, text: "", problem: "empty (no header)")
        }
        return entries
    }

    static func entry(_ line: Substring, _ number: Int) throws(IPVSConnectionListError) -> IPVSConnectionEntry {
        func fail(_ problem: String) -> IPVSConnectionListError {
            .malformedLine(line: number, text: String(line), problem: problem)
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 9 else { throw fail("\(fields.count) fields, expected at least 9") }
        func address(_ index: Int, _ name: String) throws(IPVSConnectionListError) -> IPAddress {
            let field = fields[index]
            if !field.contains(":") {
                guard field.count == 8, let value = UInt32(field, radix: 16) else {
                    throw fail("\(name) address \"\(field)\" is neither 8 hex digits nor IPv6")
                }
                return .v4(IPv4Address(UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff),
                                       UInt8(value & 0xff)))
            }
            guard let v6 = IPv6Address(field) else { throw fail("\(name) address \"\(field)\" is not IPv6") }
            return .v6(v6)
        }
        func port(_ index: Int, _ name: String) throws(IPVSConnectionListError) -> UInt16 {
            let field = fields[index]
            guard field.count == 4, let value = UInt16(field, radix: 16) else {
                throw fail("\(name) port \"\(field)\" is not 4 hex digits")
            }
            return value
        }
        guard let expires = UInt32(fields[8]) else { throw fail("expiry \"\(fields[8])\" is not a number") }
        return IPVSConnectionEntry(
            protocolName: String(fields[0]),
            client: try address(1, "client"), clientPort: try port(2, "client"),
            virtualAddress: try address(3, "virtual"), virtualPort: try port(4, "virtual"),
            destination: try address(5, "destination"), destinationPort: try port(6, "destination"),
            state: String(fields[7]), expiresInSeconds: expires,
            persistenceEngine: fields.count > 9 ? String(fields[9]) : nil,
            persistenceData: fields.count > 10 ? fields[10...].joined(separator: " ") : nil)
    }

    /// Reads and parses the connection table of the caller's network namespace, or of the one at
    /// `networkNamespace` (/run/netns/NAME, /proc/PID/ns/net). /proc/net shows the namespace of the process that
    /// opens it; the file is opened from /proc/thread-self with the calling thread briefly in that namespace.
    public static func read(networkNamespace: String? = nil) throws(IPVSConnectionListError) -> [IPVSConnectionEntry] {
        let descriptor: Int32
        do { descriptor = try openFile(networkNamespace) } catch { throw .unreadable(error) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if Glibc.errno == EINTR { continue }
                throw .unreadable(IPVSError(.listConnections, .system(call: "read \(path)", errno: Glibc.errno)))
            }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return try parse(String(decoding: bytes, as: UTF8.self))
    }

    private static func openFile(_ networkNamespace: String?) throws(IPVSError) -> Int32 {
        var descriptor: Int32 = -1
        try IPVSHandle.inNamespace(networkNamespace, .listConnections) { () throws(IPVSError) in
            descriptor = open("/proc/thread-self/net/ip_vs_conn", O_RDONLY | O_CLOEXEC)
            if descriptor < 0 {
                let e = Glibc.errno
                if e == ENOENT { throw IPVSError(.listConnections, .ipvsNotInKernel) }
                throw IPVSError(.listConnections, .system(call: "open \(path)", errno: e))
            }
        }
        return descriptor
    }
}
