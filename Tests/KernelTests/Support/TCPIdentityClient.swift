import Foundation
import Glibc

/// A TCP connection to a virtual service from a client address and port of its own, and what came of it: the identity
/// the real server answered with. `TCPBulkClient` makes them.
enum TCPIdentityClient {
    struct Connection: Sendable {
        var client: String
        var clientPort: UInt16
        var virtualAddress: String
        var virtualPort: UInt16
    }

    struct Result: Sendable {
        var connection: Connection
        /// CLOCK_REALTIME just before connect(2), in nanoseconds: the same clock a packet capture stamps with.
        var startedNanoseconds: UInt64
        /// What the server said (without the newline); nil when the connection failed.
        var identity: String?
        var error: String?
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
