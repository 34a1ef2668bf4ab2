import Glibc

/// Splits what `ipvsadm -R` reads into command lines as ipvsadm's `config_stream_read` does (config_stream.c):
/// words are separated by spaces, tabs and carriage returns, a newline ends a line, and every word `ipvsadm` is
/// dropped (so `ipvsadm -A …` lines work). Its quirks are kept: `#` starts no comment, and blanks at the very end
/// of the input, after the last newline, make the reader drop that last line.
public struct IPVSAdmRestoreReader {
    private(set) var bytes: [UInt8]
    var position = 0

    public init(_ text: String) { bytes = Array(text.utf8) }

    /// The input as bytes, as `-R` reads it from stdin (no copy: the reader shares the array's storage).
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Appends `more`, the next piece of an input that arrives in pieces (``IPVSAdmRestoreInput`` reading a pipe),
    /// first dropping the bytes already read when they are at least half of what is held (so a line longer than a
    /// piece costs amortized linear time). Ranges returned before no longer apply.
    mutating func append(_ more: UnsafeRawBufferPointer) {
        if position > 0 && position >= bytes.count - position {
            bytes.removeSubrange(0..<position)
            position = 0
        }
        bytes.append(contentsOf: more)
    }

    /// The next line if a newline ends it: the range of its bytes, the newline not included, and the reader moved
    /// past it. nil at the end of the input and when what is left has no newline: ``nextLine()`` reads that last
    /// piece, with its quirks. A line a newline ends has none: its words are ``words(_:)``.
    public mutating func nextTerminatedLine() -> Range<Int>? {
        guard position < bytes.count else { return nil }
        let start = position
        let end: Int? = bytes.withUnsafeBytes { raw in
            guard let found = memchr(raw.baseAddress! + start, 0x0a, raw.count - start) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
        guard let end else { return nil }
        position = end + 1
        return start..<end
    }

    /// The words of a line without its newline, every `ipvsadm` dropped: what ``nextLine()`` returns for it.
    public static func words(_ line: ArraySlice<UInt8>) -> [String] {
        var words: [String] = []
        var i = line.startIndex
        while i < line.endIndex {
            if isBlank(line[i]) {
                i += 1
                continue
            }
            let start = i
            while i < line.endIndex && !isBlank(line[i]) { i += 1 }
            let word = String(decoding: line[start..<i], as: UTF8.self)
            if word != "ipvsadm" { words.append(word) }
        }
        return words
    }

    /// The words of the next line (the program name not included), or nil at the end of the input.
    public mutating func nextLine() -> [String]? {
        var words: [String] = []
        var counted = 0
        while true {
            guard position < bytes.count else { return counted == 0 ? nil : words }
            let c = bytes[position]
            if !Self.isBlank(c) && c != UInt8(ascii: "\n") {
                let start = position
                while position < bytes.count && !Self.isBlank(bytes[position]) && bytes[position] != UInt8(ascii: "\n") {
                    position += 1
                }
                let word = String(decoding: bytes[start..<position], as: UTF8.self)
                if word != "ipvsadm" {
                    words.append(word)
                    counted += 1
                }
                guard position < bytes.count else { continue }
                let tail = bytes[position]
                position += 1
                if tail == UInt8(ascii: "\n") { return words }
                continue
            }
            // Blanks between words, or a line of nothing.
            while true {
                guard position < bytes.count else { return nil }
                let b = bytes[position]
                position += 1
                if b == UInt8(ascii: "\n") { return words }
                if !Self.isBlank(b) {
                    position -= 1
                    break
                }
            }
        }
    }

    static func isBlank(_ c: UInt8) -> Bool { c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") }
}
