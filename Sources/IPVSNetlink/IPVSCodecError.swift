/// Why a message could not be encoded or a reply not decoded.
public enum IPVSCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    case outOfMemory
    /// libnl could not fit an attribute into the message.
    case messageTooLarge
    /// A netlink message shorter than its header says, or a header that does not fit in the buffer.
    case truncated
    /// libnl's policy check refused an attribute (its NLE_* code), in `family` ("service", "destination", …).
    case invalidAttributes(family: String, libnlError: Int32)
    /// A required attribute is missing (`IPVS_SVC_ATTR_AF`, …).
    case missingAttribute(String)
    /// An attribute holds a value this library has no type for (an unknown scheduler, address family, …).
    case unsupportedValue(attribute: String, value: String)

    public var description: String {
        switch self {
        case .outOfMemory: return "out of memory building a netlink message"
        case .messageTooLarge: return "netlink message too large"
        case .truncated: return "truncated netlink message"
        case .invalidAttributes(let family, let code): return "invalid \(family) attributes (libnl error \(code))"
        case .missingAttribute(let name): return "missing attribute \(name)"
        case .unsupportedValue(let name, let value): return "unsupported \(name): \(value)"
        }
    }
}
