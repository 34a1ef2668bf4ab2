/// A JSON text writer that puts members in the order they are written, so that every document the project writes
/// (ipvsctl's listings, docs/ipvsctl-json.md; `ipvsctl predict --json`; the tap's verify report) has one fixed key
/// order and can be compared byte for byte. It lives in IPVSCore because it is pure Swift and the one module both
/// IPVSAdmin and IPVSTap build on. Integers are written as their decimal digits,
/// whatever their size: a 64-bit counter above 2^53 keeps every digit (Foundation's JSONEncoder would too, but
/// sorts or hashes keys; a reader that parses numbers as doubles is the reader's problem, and the document says so).
///
/// Compact output, no spaces: one document, one line.
public struct IPVSJSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// True right after `{`, `[` or a key: the next value or member needs no comma before it.
    private var atStart = true

    public init() {}

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func separate() {
        if !atStart { bytes.append(UInt8(ascii: ",")) }
        atStart = false
    }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        atStart = true
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        atStart = false
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        atStart = true
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        atStart = false
    }

    /// A member's key; its value comes next.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        atStart = true
    }

    public mutating func value(_ v: UInt64) {
        separate()
        appendDigits(v)
    }

    public mutating func value(_ v: Int64) {
        separate()
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendDigits(v.magnitude)
        } else {
            appendDigits(UInt64(v))
        }
    }

    public mutating func value(_ v: Bool) {
        separate()
        bytes.append(contentsOf: (v ? "true" : "false").utf8)
    }

    public mutating func value(_ v: String) {
        separate()
        appendString(v)
    }

    /// A number already written as JSON number text (a formatted decimal, say).
    public mutating func number(_ text: String) {
        separate()
        bytes.append(contentsOf: text.utf8)
    }

    /// `s` as a JSON string literal, quotes included, escaped as every string this writer writes.
    public static func quoted(_ s: String) -> String {
        var w = IPVSJSONWriter()
        w.appendString(s)
        return w.text
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    // Members, for brevity.
    public mutating func member(_ name: String, _ v: UInt64) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: UInt32) { key(name); value(UInt64(v)) }
    public mutating func member(_ name: String, _ v: UInt16) { key(name); value(UInt64(v)) }
    public mutating func member(_ name: String, _ v: UInt8) { key(name); value(UInt64(v)) }
    public mutating func member(_ name: String, _ v: Int32) { key(name); value(Int64(v)) }
    public mutating func member(_ name: String, _ v: Bool) { key(name); value(v) }
    public mutating func member(_ name: String, _ v: String) { key(name); value(v) }

    public mutating func member(_ name: String, _ v: String?) {
        key(name)
        if let v { value(v) } else { null() }
    }

    public mutating func member<T: FixedWidthInteger & UnsignedInteger>(_ name: String, _ v: T?) {
        key(name)
        if let v { value(UInt64(v)) } else { null() }
    }

    public mutating func member(_ name: String, _ values: [String]) {
        key(name)
        beginArray()
        for v in values { value(v) }
        endArray()
    }

    private mutating func appendDigits(_ v: UInt64) {
        bytes.append(contentsOf: String(v).utf8)
    }

    /// RFC 8259 section 7: `"` and `\` escaped, control characters as \uXXXX (\n, \t, \r, \b, \f by name); the
    /// rest as UTF-8. Names the kernel returns (schedulers, engines, interfaces) are bytes: a byte that is not UTF-8
    /// was already turned into U+FFFD when the string was made.
    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0a: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0d: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0c: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hex[Int(b >> 4)])
                bytes.append(hex[Int(b & 0xf)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
