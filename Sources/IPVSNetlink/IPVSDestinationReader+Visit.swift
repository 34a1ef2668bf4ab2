import Glibc
import IPVSCore

extension IPVSDestinationReader {
    /// Dumps the destinations of every service in `services` and hands each list to `visit` on the thread that
    /// dumped it, as soon as it is read: `ipvsctl -L` formats a service's lines there, so that formatting runs on
    /// both threads beside the kernel's dumps instead of after them on one.
    ///
    /// Part 0 (the calling thread) takes the services from the front, in order; part 1 (a second thread) from the
    /// back, in reverse order; they meet wherever they meet, so neither waits for the other at the end (a fixed
    /// half each left one thread idle for up to 0.4 s of a 2 s listing in the kernel VM). With fewer than 64
    /// services part 0 takes them all (a thread costs more than it saves). `visit(part, index, destinations)` is
    /// called from both threads at once, never twice at once for one part.
    ///
    /// On an error (a receive that fails or times out, a malformed reply; the kernel itself ends the dump of a
    /// service it cannot find without one, so a service deleted meanwhile comes back empty) the part that met it
    /// stops: returns the index of the failed service (not visited) and the error. Every service before it was
    /// visited by part 0 (when part 1 fails, part 0 goes on up to the failed one), so a caller printing in order
    /// prints part 0's services and then the error, as a one-at-a-time reader would have; when both fail, part 0's
    /// (the earlier one) is returned.
    public func visitDestinations(
        of services: [VirtualService],
        _ visit: (_ part: Int, _ index: Int, _ destinations: [IPVSDestinationEntry]) -> Void
    ) -> (failedAt: Int?, error: IPVSError?) {
        let claims = Claims(count: services.count)
        var front: (Int, IPVSError)?
        var back: (Int, IPVSError)?
        func fromTheFront() {
            while let index = claims.takeFront() {
                do throws(IPVSError) { visit(0, index, try self.first.destinations(of: services[index])) } catch {
                    front = (index, error)
                    claims.stopBack()
                    return
                }
            }
        }
        if services.count < 64 {
            fromTheFront()
        } else {
            inParallel(fromTheFront) {
                // On an error the back stays at the failed service: part 0 goes on up to it.
                while let index = claims.takeBack() {
                    do throws(IPVSError) { visit(1, index, try self.second.destinations(of: services[index])) } catch {
                        back = (index, error)
                        return
                    }
                }
            }
        }
        if let (index, error) = front { return (index, error) }
        if let (index, error) = back { return (index, error) }
        return (nil, nil)
    }
}

/// The services not yet taken by ``IPVSDestinationReader/visitDestinations(of:_:)``: `front..<back`.
private final class Claims: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var front = 0
    private var back: Int

    init(count: Int) {
        back = count
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func takeFront() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard front < back else { return nil }
        front += 1
        return front - 1
    }

    func takeBack() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard front < back else { return nil }
        back -= 1
        return back
    }

    /// Part 0 failed: part 1 takes nothing more.
    func stopBack() {
        pthread_mutex_lock(mutex)
        back = front
        pthread_mutex_unlock(mutex)
    }
}
