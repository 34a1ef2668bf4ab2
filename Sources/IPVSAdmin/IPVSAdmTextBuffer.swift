import Glibc
import IPVSCore

/// A growable byte buffer that listings are written into, field by field, as ipvsadm's `printf`s write into stdio's
/// buffer: no String per line or per field.
///
/// `ipvsctl -Ln` of 10 000 services × 10 destinations prints 110 000 lines; formatting them through String
/// concatenation (a String per field, padded copies, the joined line) cost about a third of the whole command under
/// emulation. Here every append writes into one allocation that grows by doubling; numbers are written digit by
/// digit, padding is a run of spaces.
public struct IPVSAdmTextBuffer: ~Copyable {
    var base: UnsafeMutablePointer<UInt8>
    /// Bytes written so far.
    public internal(set) var count: Int
    var capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
        count = 0
    }

    deinit { base.deallocate() }

    /// The bytes written, for writing them out.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The text written (for tests and the String-returning entry points).
    public var string: String {
        String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
    }

    /// Forgets what was written, keeping the allocation.
    public mutating func removeAll() { count = 0 }

    /// Makes room for `n` more bytes.
    @inline(__always)
    public mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    mutating func grow(_ needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = newCapacity
    }

    @inline(__always)
    public mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    /// A literal (ASCII) text. The listings' literals are a few bytes: copied byte by byte, without a call.
    @inline(__always)
    public mutating func append(_ text: StaticString) {
        let n = text.utf8CodeUnitCount
        guard n <= 16 else {
            append(UnsafeRawBufferPointer(start: text.utf8Start, count: n))
            return
        }
        reserve(n)
        let from = text.utf8Start
        for i in 0..<n { base[count &+ i] = from[i] }
        count += n
    }

    public mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends a copy of `count` bytes written earlier at `offset` (a name a later line repeats).
    public mutating func appendCopy(from offset: Int, count n: Int) {
        precondition(offset >= 0 && n >= 0 && offset + n <= count)
        reserve(n)
        (base + count).update(from: base + offset, count: n)
        count += n
    }

    /// `n` spaces (none when `n` ≤ 0). A column's padding is short: written byte by byte, without a call.
    @inline(__always)
    public mutating func appendSpaces(_ n: Int) {
        guard n > 0 else { return }
        if n <= 32 {
            // Four 8-byte stores of spaces, whatever `n`; only `n` of them are kept.
            reserve(32)
            let spaces: UInt64 = 0x2020_2020_2020_2020
            let to = UnsafeMutableRawPointer(base + count)
            to.storeBytes(of: spaces, as: UInt64.self)
            to.storeBytes(of: spaces, toByteOffset: 8, as: UInt64.self)
            if n > 16 {
                to.storeBytes(of: spaces, toByteOffset: 16, as: UInt64.self)
                to.storeBytes(of: spaces, toByteOffset: 24, as: UInt64.self)
            }
        } else {
            reserve(n)
            (base + count).initialize(repeating: UInt8(ascii: " "), count: n)
        }
        count += n
    }

    /// Pads what was written since `start` with spaces to `width` bytes: `%-Ns` of that field.
    @inline(__always)
    public mutating func padRight(from start: Int, to width: Int) {
        appendSpaces(width - (count - start))
    }

    /// Keeps at most `bytes` bytes of what was written since `start`: a C string cut by its buffer's size.
    public mutating func cut(from start: Int, to bytes: Int) {
        if count - start > bytes { count = start + bytes }
    }

    /// The decimal digits of `value`, `%llu`.
    public mutating func appendDecimal(_ value: UInt64) {
        appendDecimal(value, width: 0)
    }

    /// `%Nllu`: the digits right-aligned in `width` columns (no padding when they are wider).
    @inline(__always)
    public mutating func appendDecimal(_ value: UInt64, width: Int) {
        // Most counters, weights and ports in a listing: one digit, or a few.
        if value < 10 {
            appendSpaces(width - 1)
            append(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        appendDecimalDigits(value, width: width)
    }

    mutating func appendDecimalDigits(_ value: UInt64, width: Int) {
        let digits = Self.digitCount(value)
        reserve(max(digits, width))
        if width > digits {
            (base + count).initialize(repeating: UInt8(ascii: " "), count: width - digits)
            count += width - digits
        }
        count = Self.storeDecimal(value, UnsafeMutableRawPointer(base), count)
    }

    /// `%d`.
    public mutating func appendDecimal(_ value: Int32) {
        appendSigned(Int64(value), width: 0)
    }

    /// `%Nd` / `%Nlld` right-aligned; a negative width, as `%-Nd`, left-aligns.
    @inline(__always)
    public mutating func appendSigned(_ value: Int64, width: Int) {
        // A weight: mostly one digit.
        if value >= 0 && value < 10 {
            if width > 1 { appendSpaces(width - 1) }
            append(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            if width < -1 { appendSpaces(-width - 1) }
            return
        }
        appendSignedDigits(value, width: width)
    }

    mutating func appendSignedDigits(_ value: Int64, width: Int) {
        let start = count
        let magnitude = value.magnitude
        let length = Self.digitCount(magnitude) + (value < 0 ? 1 : 0)
        if width > length { appendSpaces(width - length) }
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDecimal(magnitude, width: 0)
        if width < 0 { padRight(from: start, to: -width) }
    }

    /// `%-Nu`: the digits, then spaces to `width`.
    @inline(__always)
    public mutating func appendDecimalLeft(_ value: UInt64, width: Int) {
        let start = count
        appendDecimal(value, width: 0)
        padRight(from: start, to: width)
    }

    /// The decimal digits of `b` at `p + at`; returns the offset after them.
    @inline(__always)
    static func storeOctet(_ b: UInt8, _ p: UnsafeMutableRawPointer, _ at: Int) -> Int {
        let zero = UInt8(ascii: "0")
        if b >= 100 {
            p.storeBytes(of: zero &+ b / 100, toByteOffset: at, as: UInt8.self)
            p.storeBytes(of: zero &+ b / 10 % 10, toByteOffset: at &+ 1, as: UInt8.self)
            p.storeBytes(of: zero &+ b % 10, toByteOffset: at &+ 2, as: UInt8.self)
            return at &+ 3
        }
        if b >= 10 {
            p.storeBytes(of: zero &+ b / 10, toByteOffset: at, as: UInt8.self)
            p.storeBytes(of: zero &+ b % 10, toByteOffset: at &+ 1, as: UInt8.self)
            return at &+ 2
        }
        p.storeBytes(of: zero &+ b, toByteOffset: at, as: UInt8.self)
        return at &+ 1
    }

    /// An IPv4 address (host order) as its dotted quad at `p + at` (room for 15 is the caller's); returns the
    /// offset after it.
    @inline(__always)
    static func storeDottedQuad(_ v: UInt32, _ p: UnsafeMutableRawPointer, _ at: Int) -> Int {
        var end = storeOctet(UInt8(truncatingIfNeeded: v >> 24), p, at)
        p.storeBytes(of: UInt8(ascii: "."), toByteOffset: end, as: UInt8.self)
        end = storeOctet(UInt8(truncatingIfNeeded: v >> 16), p, end &+ 1)
        p.storeBytes(of: UInt8(ascii: "."), toByteOffset: end, as: UInt8.self)
        end = storeOctet(UInt8(truncatingIfNeeded: v >> 8), p, end &+ 1)
        p.storeBytes(of: UInt8(ascii: "."), toByteOffset: end, as: UInt8.self)
        return storeOctet(UInt8(truncatingIfNeeded: v), p, end &+ 1)
    }

    /// The decimal digits of `value` at `p + at` (room for them is the caller's); returns the offset after them.
    @inline(__always)
    static func storeDecimal(_ value: UInt64, _ p: UnsafeMutableRawPointer, _ at: Int) -> Int {
        if value < 10 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"), toByteOffset: at, as: UInt8.self)
            return at &+ 1
        }
        let end = at &+ digitCount(value)
        var v = value
        var i = end
        repeat {
            i &-= 1
            p.storeBytes(of: UInt8(truncatingIfNeeded: v % 10) &+ UInt8(ascii: "0"), toByteOffset: i, as: UInt8.self)
            v /= 10
        } while v != 0
        return end
    }

    static func digitCount(_ value: UInt64) -> Int {
        var n = 1
        var v = value
        while v >= 10_000 {
            v /= 10_000
            n += 4
        }
        if v >= 1000 { return n + 3 }
        if v >= 100 { return n + 2 }
        if v >= 10 { return n + 1 }
        return n
    }

    /// `inet_ntop`'s text of `address`: IPv4 written digit by digit (its dotted quad has nothing to choose); IPv6
    /// through `inet_ntop` itself into a stack buffer, so that the zero-run and embedded-IPv4 choices are glibc's.
    @inline(__always)
    public mutating func appendNumeric(_ address: IPAddress) {
        switch address {
        case .v4(let a):
            // At most 15 bytes: room once, then each octet's digits without a division loop.
            reserve(16)
            count = Self.storeDottedQuad(a.value, UnsafeMutableRawPointer(base), count)
        case .v6(let a):
            // The 16 bytes in network order, on the stack (IPv6Address.bytes is an Array).
            var raw = (a.high.bigEndian, a.low.bigEndian)
            reserve(64)
            let written: Int = (base + count).withMemoryRebound(to: CChar.self, capacity: 64) { text in
                guard inet_ntop(AF_INET6, &raw, text, 64) != nil else { return 0 }
                return strlen(text)
            }
            count += written
        }
    }
}
