import Glibc
import IPVSCore

/// The C library conversions ipvsadm reads its arguments with, called as it calls them so that every odd form it
/// accepts (`+5`, ` 7`, `10.1`, `0x7f.1`, host and service names) is accepted here with the same value.
enum IPVSAdmTextParsing {
    /// ipvsadm `string_to_number`: `strtol` base 10, the whole string, within min…max; nil otherwise.
    static func number(_ text: String, _ min: Int, _ max: Int) -> Int? {
        text.withCString { start -> Int? in
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let value = strtol(start, &end, 10)
            guard let end, end.pointee == 0, end != UnsafeMutablePointer(mutating: start) else { return nil }
            guard errno != ERANGE, min <= value, value <= max else { return nil }
            return value
        }
    }

    /// ipvsadm `parse_fwmark`: 1…UINT_MAX.
    static func firewallMark(_ text: String) -> UInt32? {
        text.withCString { start -> UInt32? in
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            let value = strtol(start, &end, 10)
            guard let end, end.pointee == 0, end != UnsafeMutablePointer(mutating: start), errno != ERANGE else {
                return nil
            }
            // ipvsadm stores strtol's long in an unsigned long: a negative mark becomes huge and is refused.
            let unsigned = UInt(bitPattern: value)
            guard unsigned > 0, unsigned <= UInt(UInt32.max) else { return nil }
            return UInt32(unsigned)
        }
    }

    /// `atoi`.
    static func atoi(_ text: String) -> Int32 { Glibc.atoi(text) }

    /// `inet_aton`: every form the C library takes (`10.1`, `0x0a.1`, trailing blanks…).
    static func inetAton(_ text: String) -> IPv4Address? {
        var address = in_addr()
        guard Glibc.inet_aton(text, &address) != 0 else { return nil }
        return IPv4Address(UInt32(bigEndian: address.s_addr))
    }

    static func inet6(_ text: String) -> IPv6Address? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) > 0 else { return nil }
        return IPv6Address(bytes: withUnsafeBytes(of: address) { Array($0) })
    }

    static func inet4Strict(_ text: String) -> IPv4Address? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) > 0 else { return nil }
        return IPv4Address(UInt32(bigEndian: address.s_addr))
    }

    /// ipvsadm `host_to_addr`: `gethostbyname`, IPv4 only, the first address.
    static func hostToAddress(_ name: String) -> IPv4Address? {
        guard let host = gethostbyname(name) else { return nil }
        guard host.pointee.h_addrtype == AF_INET, host.pointee.h_length == 4,
            let list = host.pointee.h_addr_list, let first = list[0]
        else { return nil }
        var value: UInt32 = 0
        memcpy(&value, first, 4)
        return IPv4Address(UInt32(bigEndian: value))
    }

    /// ipvsadm `service_to_port`: a service name for the protocol (tcp, udp, sctp), nil for any other protocol.
    static func serviceToPort(_ name: String, ipProtocol: UInt16) -> UInt16? {
        let protocolName: String
        switch Int32(ipProtocol) {
        case Int32(IPPROTO_TCP): protocolName = "tcp"
        case Int32(IPPROTO_UDP): protocolName = "udp"
        case Int32(IPPROTO_SCTP): protocolName = "sctp"
        default: return nil
        }
        guard let entry = getservbyname(name, protocolName) else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port))
    }

    /// What ipvsadm's `parse_service` found: an address, and maybe a port.
    struct AddressPort {
        var address: IPAddress
        var port: UInt16?
    }

    /// ipvsadm `parse_service`: `host`, `host:port`, `[v6]:port` or a bare IPv6 address; a name is resolved
    /// (IPv4 only) and a port may be a service name of `ipProtocol`. nil when ipvsadm's result has no address.
    ///
    /// Reproduces its quirks: an all-digit string is refused; `[v6]` needs a `:port`; `[1.2.3.4]:80` loses its
    /// port; a bare IPv6 address never has one.
    static func addressPort(_ text: String, ipProtocol: UInt16) -> AddressPort? {
        if text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return nil }  // str_is_digit, "" included
        var host = Substring(text)
        var portText: Substring?
        if host.first == "[" {
            host = host.dropFirst()
            guard let close = host.firstIndex(of: "]") else { return nil }
            let after = host[host.index(after: close)...]
            guard after.first == ":" else { return nil }
            portText = after.dropFirst()
            host = host[..<close]
        }
        if let v6 = inet6(String(host)) {
            guard let port = portOrFailure(portText, ipProtocol) else { return nil }
            return AddressPort(address: .v6(v6), port: port)
        }
        // Not IPv6: ipvsadm looks for a port again, in what is left of the string.
        portText = nil
        if let colon = host.lastIndex(of: ":") {
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard let v4 = inetAton(String(host)) ?? hostToAddress(String(host)) else { return nil }
        guard let port = portOrFailure(portText, ipProtocol) else { return nil }
        return AddressPort(address: .v4(v4), port: port)
    }

    /// `.some(nil)` when there is no port text, `.some(port)` for a number or a service name, nil when the text
    /// is neither (ipvsadm then refuses the whole address).
    private static func portOrFailure(_ text: Substring?, _ ipProtocol: UInt16) -> UInt16?? {
        guard let text else { return .some(nil) }
        if let n = number(String(text), 0, 65535) { return .some(UInt16(n)) }
        if let n = serviceToPort(String(text), ipProtocol: ipProtocol) { return .some(n) }
        return nil
    }

    /// ipvsadm `parse_netmask`: `inet_aton`, else a host name; host byte order.
    static func netmask(_ text: String) -> UInt32? {
        (inetAton(text) ?? hostToAddress(text))?.value
    }

    /// ipvsadm `parse_timeout`'s check (the caller supplies the default for a missing value).
    static func timeout(_ text: String, _ min: Int, _ max: Int) -> UInt32? {
        number(text, min, max).map { UInt32($0) }
    }
}
