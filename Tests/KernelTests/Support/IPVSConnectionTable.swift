/// One connection in the kernel's IPVS connection table, as /proc/net/ip_vs_conn lists it.
struct IPVSConnection: Equatable, Sendable {
    var protocolName: String
    var clientAddress: String
    var clientPort: Int
    var virtualAddress: String
    var virtualPort: Int
    var destinationAddress: String
    var destinationPort: Int
    var state: String
}

/// Parses /proc/net/ip_vs_conn. The kernel prints it from ip_vs_conn_seq_show (net/netfilter/ipvs/ip_vs_conn.c):
///
///     Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
///     TCP 0AFA0002 A1B2 0AFA0001 0050 0AFA0102 0050 TIME_WAIT       119
///
/// IPv4 addresses and all ports are hexadecimal in network order; IPv6 addresses are printed as text and kept so.
enum IPVSConnectionTable {
    static func parse(_ text: String) -> [IPVSConnection] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8,
                let clientPort = Int(fields[2], radix: 16),
                let virtualPort = Int(fields[4], radix: 16),
                let destinationPort = Int(fields[6], radix: 16)
            else { return nil }
            return IPVSConnection(
                protocolName: String(fields[0]),
                clientAddress: address(fields[1]),
                clientPort: clientPort,
                virtualAddress: address(fields[3]),
                virtualPort: virtualPort,
                destinationAddress: address(fields[5]),
                destinationPort: destinationPort,
                state: String(fields[7])
            )
        }
    }

    /// "0AFA0002" → "10.250.0.2"; anything else (an IPv6 address) unchanged.
    static func address(_ field: Substring) -> String {
        guard field.count == 8, let value = UInt32(field, radix: 16) else { return String(field) }
        return [24, 16, 8, 0].map { String((value >> $0) & 0xff) }.joined(separator: ".")
    }
}
