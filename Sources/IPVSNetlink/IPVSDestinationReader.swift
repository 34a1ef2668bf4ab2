import Glibc
import IPVSCore

/// Destination dumps of many services at once, overlapped on two sockets and two threads: what `ipvsctl -L` and
/// ``KernelMirror`` use to read a whole table.
///
/// The kernel dumps the destinations of one service per request (ip_vs_ctl.c `ip_vs_genl_dump_dests`) and one socket
/// runs one dump at a time (af_netlink.c `netlink_dump`, `cb_running`), so a table of N services costs N round
/// trips. Two sockets on two threads overlap them: the kernel answers one thread's dump step while the other decodes.
/// Each socket receives in page-sized steps (see ``DestinationDumpSocket``). Opened in the caller's network
/// namespace or in the one at `networkNamespace`.
public final class IPVSDestinationReader {
    var first: DestinationDumpSocket
    var second: DestinationDumpSocket

    /// Opens the two sockets. `familyID` is the IPVS generic netlink family of that namespace
    /// (``IPVSHandle/familyID``). Without `readsStatistics` the entries' counters are zero (a listing that prints
    /// none; the replies' counters are checked all the same, see ``IPVSDestinationDecoder``).
    public init(
        networkNamespace: String? = nil, familyID: UInt16, timeout: Duration = .seconds(10),
        readsStatistics: Bool = true
    ) throws(IPVSError) {
        first = try DestinationDumpSocket(
            networkNamespace: networkNamespace, familyID: familyID, timeout: timeout,
            readsStatistics: readsStatistics)
        second = try DestinationDumpSocket(
            networkNamespace: networkNamespace, familyID: familyID, timeout: timeout,
            readsStatistics: readsStatistics)
    }

    /// Replies decoded from a remembered layout, and through the full walk, so far (``IPVSDestinationDecoder``).
    public var decodedReplies: (reused: Int, walked: Int) {
        (first.decoder.reused + second.decoder.reused, first.decoder.walked + second.decoder.walked)
    }

    /// Read requests sent so far (one per service dumped).
    public var readRequestsSent: Int { first.readRequestsSent + second.readRequestsSent }

    /// The destinations of each service, in the order of `services` and, within one, the kernel's list order.
    ///
    /// On an error (a service deleted meanwhile answers ESRCH, as ``IPVSHandle/destinations(of:)`` does) `dumped`
    /// holds the services before the first one that failed, in order, and `error` says why that one failed: a
    /// caller can print what a one-at-a-time reader would have printed before it stopped.
    public func destinations(of services: [VirtualService]) -> (dumped: [[IPVSDestinationEntry]], error: IPVSError?) {
        let (dumped, error) = destinations(of: services, skippingVanished: false)
        return (dumped.map { $0 ?? [] }, error)
    }

    /// As ``destinations(of:)``; with `skippingVanished`, a service deleted meanwhile (ESRCH) is not an error and its
    /// entry is nil.
    func destinations(
        of services: [VirtualService], skippingVanished: Bool
    ) -> (dumped: [[IPVSDestinationEntry]?], error: IPVSError?) {
        let half = services.count < 64 ? services.count : services.count / 2
        var head: (dumped: [[IPVSDestinationEntry]?], error: IPVSError?) = ([], nil)
        var tail: (dumped: [[IPVSDestinationEntry]?], error: IPVSError?) = ([], nil)
        inParallel(
            { head = Self.dump(services[..<half], &self.first, skippingVanished) },
            { if half < services.count { tail = Self.dump(services[half...], &self.second, skippingVanished) } })
        if head.error != nil { return head }
        return (head.dumped + tail.dumped, tail.error)
    }

    private static func dump(
        _ services: ArraySlice<VirtualService>, _ socket: inout DestinationDumpSocket, _ skippingVanished: Bool
    ) -> (dumped: [[IPVSDestinationEntry]?], error: IPVSError?) {
        var out: [[IPVSDestinationEntry]?] = []
        out.reserveCapacity(services.count)
        for service in services {
            do throws(IPVSError) { out.append(try socket.destinations(of: service)) } catch {
                if skippingVanished && error.reason == .kernel(errno: ESRCH) {
                    out.append(nil)
                    continue
                }
                return (out, error)
            }
        }
        return (out, nil)
    }
}
