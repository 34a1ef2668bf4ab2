import Glibc
import IPVSCore
import Synchronization

/// Turns addresses and ports into the names a listing without `-n` prints. ipvsadm asks the C library
/// (`gethostbyaddr`, `getservbyport`); tests substitute their own answers.
public protocol IPVSAdmNameResolver {
    func hostName(_ address: IPAddress) -> String?
    /// The service name of `port` for `ipProtocol` (6 tcp, 17 udp, 132 sctp; none for any other).
    func serviceName(port: UInt16, ipProtocol: UInt16) -> String?
}

/// The C library's resolver, as ipvsadm uses it (ipvsadm.c `addr_to_host`, `port_to_service`).
///
/// `gethostbyaddr` and `getservbyport` answer in static storage: one call at a time in the process (a listing
/// formats on two threads), each answer copied out before the next call.
public struct SystemNameResolver: IPVSAdmNameResolver {
    public init() {}

    static let lock = Mutex(())

    public func hostName(_ address: IPAddress) -> String? {
        Self.lock.withLock { _ in lookUpHost(address) }
    }

    public func serviceName(port: UInt16, ipProtocol: UInt16) -> String? {
        Self.lock.withLock { _ in lookUpService(port: port, ipProtocol: ipProtocol) }
    }

    private func lookUpHost(_ address: IPAddress) -> String? {
        let entry: UnsafeMutablePointer<hostent>?
        switch address {
        case .v4(let a):
            var raw = in_addr(s_addr: a.value.bigEndian)
            entry = gethostbyaddr(&raw, socklen_t(MemoryLayout<in_addr>.size), AF_INET)
        case .v6(let a):
            var bytes = a.bytes
            entry = gethostbyaddr(&bytes, socklen_t(16), AF_INET6)
        }
        guard let entry, let name = entry.pointee.h_name else { return nil }
        return String(cString: name)
    }

    private func lookUpService(port: UInt16, ipProtocol: UInt16) -> String? {
        let name: String
        switch ipProtocol {
        case 6: name = "tcp"
        case 17: name = "udp"
        case 132: name = "sctp"
        default: return nil
        }
        guard let entry = getservbyport(Int32(port.bigEndian), name), let s = entry.pointee.s_name else { return nil }
        return String(cString: s)
    }
}

/// ipvsadm's address formatting.
public enum IPVSAdmAddressText {
    /// `inet_ntop`.
    public static func numeric(_ address: IPAddress) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        switch address {
        case .v4(let a):
            var raw = in_addr(s_addr: a.value.bigEndian)
            _ = inet_ntop(AF_INET, &raw, &buffer, 64)
        case .v6(let a):
            var bytes = a.bytes
            _ = inet_ntop(AF_INET6, &bytes, &buffer, 64)
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// ipvsadm `addrport_to_anyname`: `addr:port`, `[v6]:port`, names unless numeric; cut to 59 bytes as its
    /// 60-byte buffer cuts it.
    public static func addressPort(
        _ address: IPAddress, port: UInt16, ipProtocol: UInt16, numeric: Bool, resolver: any IPVSAdmNameResolver
    ) -> String {
        var out = IPVSAdmTextBuffer(capacity: 64)
        appendAddressPort(address, port: port, ipProtocol: ipProtocol, numeric: numeric, resolver: resolver, into: &out)
        return out.string
    }

    /// ``addressPort(_:port:ipProtocol:numeric:resolver:)`` into `out`: with -n no String at all.
    @inline(__always)
    public static func appendAddressPort(
        _ address: IPAddress, port: UInt16, ipProtocol: UInt16, numeric: Bool, resolver: any IPVSAdmNameResolver,
        into out: inout IPVSAdmTextBuffer
    ) {
        let start = out.count
        let v6 = address.family == .inet6
        if v6 { out.append(UInt8(ascii: "[")) }
        if !numeric, let host = resolver.hostName(address) {
            out.append(host)
        } else {
            out.appendNumeric(address)
        }
        if v6 { out.append(UInt8(ascii: "]")) }
        out.append(UInt8(ascii: ":"))
        if !numeric, let name = resolver.serviceName(port: port, ipProtocol: ipProtocol) {
            out.append(name)
        } else {
            out.appendDecimal(UInt64(port))
        }
        out.cut(from: start, to: 59)
    }
}
