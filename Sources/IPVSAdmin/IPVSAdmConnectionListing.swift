import Glibc
import IPVSCore

/// `ipvsadm -Lc`: the connection table, read from /proc/net/ip_vs_conn and printed line by line as ipvsadm does
/// (ipvsadm.c `list_conn`, `print_conn`): the first /proc line is skipped, each other line is split into
/// protocol, client, virtual and destination address:port (hex), state, seconds left and, with
/// `--persistent-conn`, the persistence engine and its data.
public struct IPVSAdmConnectionListing {
    public var format: IPVSAdmFormat
    public var resolver: any IPVSAdmNameResolver

    public init(format: IPVSAdmFormat, resolver: any IPVSAdmNameResolver = SystemNameResolver()) {
        self.format = format
        self.resolver = resolver
    }

    public func title() -> String {
        var out = "IPVS connection entries\n"
        if format.contains(.persistentConnections) {
            out += "pro expire " + pad("state", 11) + " " + pad("source", 18) + " " + pad("virtual", 18) + " "
                + pad("destination", 18) + " " + pad("pe name", 16) + " pe_data\n"
        } else {
            out += "pro expire " + pad("state", 11) + " " + pad("source", 18) + " " + pad("virtual", 18)
                + " destination\n"
        }
        return out
    }

    /// The whole listing from the text of /proc/net/ip_vs_conn.
    public func listing(procText: String) -> String {
        var out = title()
        for (i, line) in procText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where i > 0 {
            if line.isEmpty { continue }
            out += self.line(String(line))
        }
        return out
    }

    /// `print_conn` for one /proc line.
    public func line(_ text: String) -> String {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        func field(_ i: Int) -> String { i < fields.count ? fields[i] : "" }
        let protocolName = field(0)
        let ipProtocol: UInt16
        switch protocolName {
        case "TCP": ipProtocol = 6
        case "UDP": ipProtocol = 17
        case "SCTP": ipProtocol = 132
        default: ipProtocol = 0
        }
        func port(_ text: String) -> UInt16 { UInt16(truncatingIfNeeded: strtoul(text, nil, 16)) }
        func hex(_ text: String) -> IPAddress { .v4(IPv4Address(UInt32(truncatingIfNeeded: strtoul(text, nil, 16)))) }
        let client: IPAddress, virtual: IPAddress
        if let c = IPVSAdmTextParsing.inet6(field(1)) {
            client = .v6(c)
            virtual = .v6(IPVSAdmTextParsing.inet6(field(3)) ?? IPv6Address(high: 0, low: 0))
        } else if let c = IPVSAdmTextParsing.inet4Strict(field(1)) {
            client = .v4(c)
            virtual = .v4(IPVSAdmTextParsing.inet4Strict(field(3)) ?? IPv4Address(0))
        } else {
            client = hex(field(1))
            virtual = hex(field(3))
        }
        let destination: IPAddress =
            IPVSAdmTextParsing.inet6(field(5)).map { .v6($0) } ?? IPVSAdmTextParsing.inet4Strict(field(5)).map { .v4($0) }
            ?? hex(field(5))
        let numeric = format.contains(.numeric)
        func name(_ a: IPAddress, _ p: UInt16) -> String {
            IPVSAdmAddressText.addressPort(a, port: p, ipProtocol: ipProtocol, numeric: numeric, resolver: resolver)
        }
        let expires = UInt32(truncatingIfNeeded: strtol(field(8), nil, 10))
        let minutes = expires / 60, seconds = expires % 60
        let expire = (minutes < 10 ? "0" : "") + "\(minutes):" + (seconds < 10 ? "0" : "") + "\(seconds)"
        var out = pad(protocolName, 3) + " " + pad(expire, 6) + " " + pad(field(7), 11) + " "
            + pad(name(client, port(field(2))), 18) + " " + pad(name(virtual, port(field(4))), 18) + " "
        let destinationName = name(destination, port(field(6)))
        if format.contains(.persistentConnections) && fields.count >= 11 {
            out += pad(destinationName, 16) + " " + pad(field(9), 18) + " " + field(10) + "\n"
        } else {
            out += destinationName + "\n"
        }
        return out
    }

    private func pad(_ s: String, _ width: Int) -> String { IPVSAdmListing.padRight(s, width) }
}
