import Glibc
import IPVSCore

extension IPVSDestinationReader {
    /// Dumps the destinations of every service in `services` and hands each list to `visit` on the thread that
    /// dumped it, as soon as it is read: `ipvsctl -L` formats a service's lines there, so that formatting runs on
    /// both threads beside the kernel's dumps instead of after them on one.
    ///
    /// Part 0 (the calling thread) takes `services[..<split]` in order, part 1 (a second thread) the rest in order;
    /// `visit(part, index, destinations)` is called from both threads at once, never twice at once for one part.
    /// `split` defaults to the middle (everything on part 0 for fewer than 64 services, where a thread costs more
    /// than it saves).
    ///
    /// On an error the part that met it stops there (the service that failed is not visited) and the error is
    /// returned with that part: part 0's if it failed, otherwise part 1's. The other part runs to its end. A caller
    /// printing in order prints nothing of part 1 when part 0 failed.
    public func visitDestinations(
        of services: [VirtualService], split: Int? = nil,
        _ visit: (_ part: Int, _ index: Int, _ destinations: [IPVSDestinationEntry]) -> Void
    ) -> (failedPart: Int?, error: IPVSError?) {
        let half = min(max(split ?? (services.count < 64 ? services.count : services.count / 2), 0), services.count)
        var head: IPVSError?
        var tail: IPVSError?
        inParallel(
            { head = Self.visit(services, 0..<half, &self.first, part: 0, visit) },
            {
                guard half < services.count else { return }
                tail = Self.visit(services, half..<services.count, &self.second, part: 1, visit)
            })
        if let head { return (0, head) }
        if let tail { return (1, tail) }
        return (nil, nil)
    }

    private static func visit(
        _ services: [VirtualService], _ range: Range<Int>, _ socket: inout DestinationDumpSocket, part: Int,
        _ visit: (Int, Int, [IPVSDestinationEntry]) -> Void
    ) -> IPVSError? {
        for index in range {
            do throws(IPVSError) {
                visit(part, index, try socket.destinations(of: services[index]))
            } catch { return error }
        }
        return nil
    }
}
