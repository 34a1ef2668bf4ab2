/// An IPv4 address, stored as the 32-bit number it denotes (host byte order).
///
/// Parsing accepts exactly the dotted-quad form `inet_pton(AF_INET, …)` accepts: four decimal parts of
/// at most three digits, each 0…255, no leading zeros, nothing else.
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address as a number: `10.0.0.1` is `0x0A00_0001`.
    public var value: UInt32

    @inlinable
    public init(_ value: UInt32) { self.value = value }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text; `nil` when the text is not exactly that.
    public init?(_ text: some StringProtocol) {
        var utf8 = Array(text.utf8)[...]
        guard let parsed = IPv4Address.parse(&utf8), utf8.isEmpty else { return nil }
        self = parsed
    }

    /// Parses a dotted quad from the front of `bytes`, consuming it. Used by IPv6 parsing for an embedded IPv4 tail.
    static func parse(_ bytes: inout ArraySlice<UInt8>) -> IPv4Address? {
        var result: UInt32 = 0
        for part in 0..<4 {
            if part > 0 {
                guard bytes.first == UInt8(ascii: ".") else { return nil }
                bytes.removeFirst()
            }
            var octet: UInt32 = 0
            var digits = 0
            while let c = bytes.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits > 0 && octet == 0 { return nil }  // leading zero, as inet_pton refuses
                octet = octet * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, octet <= 255 else { return nil }
                bytes.removeFirst()
            }
            guard digits > 0 else { return nil }
            result = result << 8 | octet
        }
        return IPv4Address(result)
    }

    /// The four bytes in network order.
    public var bytes: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value))
    }

    public var description: String {
        let b = bytes
        return "\(b.0).\(b.1).\(b.2).\(b.3)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    /// The network mask with `prefixLength` leading one bits.
    public static func mask(prefixLength: Int) -> IPv4Address {
        precondition((0...32).contains(prefixLength))
        return IPv4Address(prefixLength == 0 ? 0 : UInt32.max << (32 - prefixLength))
    }

    /// The prefix length if this address is a contiguous netmask (`255.255.255.0` → 24), else `nil`.
    public var prefixLengthIfMask: Int? {
        let ones = (~value).leadingZeroBitCount
        return ones == 32 || value << ones == 0 ? ones : nil
    }
}
