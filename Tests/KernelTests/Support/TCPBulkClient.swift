import Glibc

/// Many TCP connections at once from one thread, with non-blocking sockets and poll(2): the fast way to make
/// thousands of connections in the emulated VM (a blocking connection at a time spends most of its life waiting for
/// the other threads to be scheduled). Each connection binds its own source address and port, connects, reads the
/// identity the real server answers with until the server closes, and closes.
///
/// Connections come in streams (one per virtual service scenario). A stream keeps at most `window` connections in
/// flight and starts them in its list's order; with `window` 1 each one ends before the next starts. All SYNs leave
/// from this one thread, which the caller pins to one CPU: they reach the director in the order connect(2) was
/// called (veth hands a packet to the backlog of the sending CPU, processed in order). A stream can pause at a
/// point of its list until its connections in flight have ended, for `pause` to change the table.
enum TCPBulkClient {
    struct Stream: Sendable {
        var connections: [TCPIdentityClient.Connection]
        var window: Int
        /// Indices of `connections` before which the stream waits for its connections in flight to end and calls
        /// `pause(stream, index)`.
        var pauses: [Int] = []
        /// Streams of a later stage start once every stream of the earlier stages has ended.
        var stage = 0
    }

    private struct InFlight {
        var fd: Int32
        var stream: Int
        var index: Int
        var connecting: Bool
        var received: [UInt8]
        var deadline: UInt64
    }

    /// Runs every stream to its end from the calling thread (which has entered the client namespace). Returns each
    /// stream's results in its list's order. `pause` runs on this thread while the other streams wait. The poll set
    /// is kept from one wake-up to the next (a connection's entry swapped out when it ends), not rebuilt.
    static func run(_ streams: [Stream], timeoutSeconds: UInt64 = 20,
                    pause: (Int, Int) throws -> Void) throws -> [[TCPIdentityClient.Result]] {
        var results = streams.map { s in
            s.connections.map {
                TCPIdentityClient.Result(connection: $0, startedNanoseconds: 0, identity: nil, error: nil)
            }
        }
        var next = [Int](repeating: 0, count: streams.count)
        var inFlightOf = [Int](repeating: 0, count: streams.count)
        var pausesDone = [Int](repeating: 0, count: streams.count)
        // Connections in flight, and their poll entries at the same index.
        var slots: [InFlight] = []
        var descriptors: [pollfd] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        var failedInARow = 0
        var lastSweep = TCPIdentityClient.now()
        var stage = streams.map(\.stage).min() ?? 0

        func name(_ f: InFlight) -> String {
            let c = streams[f.stream].connections[f.index]
            return "\(c.client):\(c.clientPort) → \(c.virtualAddress):\(c.virtualPort)"
        }
        /// Ends the connection at `slot`: the last one moves into its place.
        func finish(_ slot: Int, error: String?) {
            let f = slots[slot]
            close(f.fd)
            slots.swapAt(slot, slots.count - 1)
            slots.removeLast()
            descriptors.swapAt(slot, descriptors.count - 1)
            descriptors.removeLast()
            inFlightOf[f.stream] -= 1
            if let error {
                results[f.stream][f.index].error = error
                failedInARow += 1
            } else {
                var text = String(decoding: f.received, as: UTF8.self)
                while let last = text.last, last.isWhitespace { text.removeLast() }
                results[f.stream][f.index].identity = text
                failedInARow = 0
            }
        }

        while true {
            // Start what the windows allow, stream by stream; a stream at a pause point waits for its flights.
            for (si, s) in streams.enumerated() where s.stage <= stage {
                while next[si] < s.connections.count && inFlightOf[si] < s.window {
                    if pausesDone[si] < s.pauses.count && s.pauses[pausesDone[si]] == next[si] {
                        guard inFlightOf[si] == 0 else { break }
                        try pause(si, next[si])
                        pausesDone[si] += 1
                        continue
                    }
                    let i = next[si]
                    next[si] += 1
                    switch open(s.connections[i]) {
                    case .success(let (fd, started)):
                        results[si][i].startedNanoseconds = started
                        slots.append(InFlight(fd: fd, stream: si, index: i, connecting: true, received: [],
                                              deadline: started + timeoutSeconds * 1_000_000_000))
                        descriptors.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0))
                        inFlightOf[si] += 1
                    case .failure(let e):
                        results[si][i].error = e.description
                        failedInARow += 1
                    }
                }
            }
            if failedInARow >= 3 {
                for f in slots { close(f.fd) }
                let last = results.joined().last { $0.error != nil }?.error ?? "?"
                throw NamespaceThread.Failure(description: "3 connections in a row failed, the last: \(last)")
            }
            if slots.isEmpty {
                if zip(next, streams).allSatisfy({ $0 == $1.connections.count }) { break }
                // This stage has ended: the next one.
                if let later = streams.map(\.stage).filter({ $0 > stage }).min(),
                    zip(next, streams).allSatisfy({ $0 == $1.connections.count || $1.stage > stage }) {
                    stage = later
                }
                continue
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), 1000)
            if ready < 0 && errno != EINTR { throw NamespaceThread.Failure(description: "poll: errno \(errno)") }
            // Backwards: finishing a slot moves the last one (already looked at) into its place.
            var slot = slots.count - 1
            while ready > 0 && slot >= 0 {
                defer { slot -= 1 }
                guard descriptors[slot].revents != 0 else { continue }
                descriptors[slot].revents = 0
                var f = slots[slot]
                if f.connecting {
                    var soError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(f.fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                    if soError != 0 {
                        finish(slot, error: "connect \(name(f)): errno \(soError)")
                        continue
                    }
                    f.connecting = false
                    descriptors[slot].events = Int16(POLLIN)
                }
                // Read what is there; the server closes after its identity.
                var ended = false
                var failure: String? = nil
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(f.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        f.received += buffer[0..<n]
                    } else if n == 0 {
                        ended = true
                        break
                    } else {
                        if errno != EAGAIN && errno != EINTR { failure = "read \(name(f)): errno \(errno)" }
                        break
                    }
                }
                slots[slot] = f
                if let failure {
                    finish(slot, error: failure)
                } else if ended {
                    finish(slot, error: nil)
                }
            }
            // Connections that got no answer in time, looked for once a second.
            let now = TCPIdentityClient.now()
            if now > lastSweep + 1_000_000_000 {
                lastSweep = now
                for slot in slots.indices.reversed() where now > slots[slot].deadline {
                    finish(slot, error: "\(name(slots[slot])): no answer in \(timeoutSeconds) s")
                }
            }
        }
        return results
    }

    struct OpenFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// A non-blocking socket bound to the connection's source, its connect(2) under way (the SYN sent). Returns it
    /// with CLOCK_REALTIME just before connect(2).
    private static func open(_ c: TCPIdentityClient.Connection) -> Result<(Int32, UInt64), OpenFailure> {
        guard let source = IPv4Text(c.client), let target = IPv4Text(c.virtualAddress) else {
            return .failure(OpenFailure(description: "not IPv4: \(c.client) → \(c.virtualAddress)"))
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(OpenFailure(description: "socket: errno \(errno)")) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var local = source.socketAddress(port: c.clientPort)
        var remote = target.socketAddress(port: c.virtualPort)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            return .failure(OpenFailure(description: "bind \(c.client):\(c.clientPort): errno \(e)"))
        }
        let started = TCPIdentityClient.now()
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard connected == 0 || errno == EINPROGRESS else {
            let e = errno
            close(fd)
            return .failure(OpenFailure(
                description: "connect \(c.client):\(c.clientPort) → \(c.virtualAddress): errno \(e)"))
        }
        return .success((fd, started))
    }
}
