/// A libpcap or file error: what was being done, and libpcap's (or the C library's) words for what went wrong.
public struct PcapError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var message: String

    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "\(operation): \(message)" }
}
