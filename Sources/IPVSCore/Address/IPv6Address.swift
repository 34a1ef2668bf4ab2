/// An IPv6 address, stored as two 64-bit halves in host byte order (`high` holds bytes 0…7).
///
/// Parsing accepts what `inet_pton(AF_INET6, …)` accepts (`::` compression, an embedded dotted-quad tail, no zone
/// index); `description` prints what glibc's `inet_ntop` prints: lower-case hex, the longest run (at least two) of
/// zero groups compressed, the first such run on a tie, and `::ffff:a.b.c.d` / `::a.b.c.d` for IPv4-mapped and
/// IPv4-compatible addresses.
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Builds an address from its eight 16-bit groups.
    public init(groups: [UInt16]) {
        precondition(groups.count == 8)
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        self.init(high: h, low: l)
    }

    public init?(_ text: some StringProtocol) {
        var groups = [UInt16]()
        groups.reserveCapacity(8)
        var gapAt: Int? = nil
        var bytes = Array(text.utf8)[...]
        guard !bytes.isEmpty else { return nil }
        if bytes.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            gapAt = 0
            bytes.removeFirst(2)
        } else if bytes.first == UInt8(ascii: ":") {
            return nil
        }
        while !bytes.isEmpty {
            // An embedded IPv4 tail: the rest has a '.' before the next ':'.
            if let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
               bytes[bytes.startIndex..<dot].allSatisfy({ $0 != UInt8(ascii: ":") }) {
                guard groups.count <= 6, let v4 = IPv4Address.parse(&bytes), bytes.isEmpty else { return nil }
                groups.append(UInt16(v4.value >> 16))
                groups.append(UInt16(truncatingIfNeeded: v4.value))
                break
            }
            var group: UInt32 = 0
            var digits = 0
            while let c = bytes.first, let h = IPv6Address.hexValue(c) {
                group = group << 4 | h
                digits += 1
                guard digits <= 4 else { return nil }
                bytes.removeFirst()
            }
            guard digits > 0, groups.count < 8 else { return nil }
            groups.append(UInt16(group))
            guard let c = bytes.first else { break }
            guard c == UInt8(ascii: ":") else { return nil }
            bytes.removeFirst()
            if bytes.first == UInt8(ascii: ":") {
                guard gapAt == nil else { return nil }
                gapAt = groups.count
                bytes.removeFirst()
            } else if bytes.isEmpty {
                return nil  // a trailing single ':'
            }
        }
        if let gap = gapAt {
            guard groups.count <= 7 else { return nil }
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        self.init(groups: groups)
    }

    private static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// The eight 16-bit groups, most significant first.
    public var groups: [UInt16] {
        (0..<8).map { i in
            i < 4 ? UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64(i)))
                : UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64(i - 4)))
        }
    }

    /// The four 32-bit words, most significant first (the kernel's `in6.s6_addr32[0…3]`, converted to host order).
    @inlinable
    public var words: (UInt32, UInt32, UInt32, UInt32) {
        (UInt32(truncatingIfNeeded: high >> 32), UInt32(truncatingIfNeeded: high),
         UInt32(truncatingIfNeeded: low >> 32), UInt32(truncatingIfNeeded: low))
    }

    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        (0..<16).map { i in
            i < 8 ? UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
                : UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i - 8)))
        }
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        var h: UInt64 = 0
        var l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { l = l << 8 | UInt64(bytes[i]) }
        self.init(high: h, low: l)
    }

    public var description: String {
        let g = groups
        // Longest run of zero groups (length >= 2), first one on a tie: glibc inet_ntop6.
        var bestStart = -1
        var bestLength = 0
        var i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLength {
                    bestStart = i
                    bestLength = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var out = ""
        i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                // IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d), as inet_ntop6 prints them.
                if i == 0 && (bestLength == 6 || (bestLength == 5 && g[5] == 0xffff)) {
                    if bestLength == 5 { out += "ffff:" }
                    out += IPv4Address(UInt32(g[6]) << 16 | UInt32(g[7])).description
                    return out
                }
                i += bestLength
                continue
            }
            if i > 0 && !(bestStart >= 0 && i == bestStart + bestLength) { out += ":" }
            out += String(g[i], radix: 16)
            i += 1
        }
        return out
    }

    public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The network mask with `prefixLength` leading one bits.
    public static func mask(prefixLength: Int) -> IPv6Address {
        precondition((0...128).contains(prefixLength))
        if prefixLength == 0 { return IPv6Address(high: 0, low: 0) }
        if prefixLength <= 64 { return IPv6Address(high: UInt64.max << (64 - prefixLength), low: 0) }
        return IPv6Address(high: UInt64.max, low: prefixLength == 128 ? UInt64.max : UInt64.max << (128 - prefixLength))
    }
}
