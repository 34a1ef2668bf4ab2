/// Splits what `ipvsadm -R` reads into command lines as ipvsadm's `config_stream_read` does (config_stream.c):
/// words are separated by spaces, tabs and carriage returns, a newline ends a line, and every word `ipvsadm` is
/// dropped (so `ipvsadm -A …` lines work). Its quirks are kept: `#` starts no comment, and blanks at the very end
/// of the input, after the last newline, make the reader drop that last line.
public struct IPVSAdmRestoreReader {
    let bytes: [UInt8]
    var position = 0

    public init(_ text: String) { bytes = Array(text.utf8) }

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
