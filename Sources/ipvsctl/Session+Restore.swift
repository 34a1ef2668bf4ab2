import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

extension Session {
    /// ipvsadm `restore_table`: every line of stdin as a command line, the status being the last line's — but the
    /// changes go to the kernel in batches (``IPVSHandle/perform(batch:)``), not one message and one round trip each.
    ///
    /// Consecutive lines that change the table (-A -E -D -a -e -d -C -Z --set) are parsed and queued; the queue is
    /// sent before any other line runs (a listing, a daemon command, a line that does not parse) and at the end, so
    /// everything happens in the order of the input. The kernel applies the messages of one send in order and goes on
    /// after one fails (af_netlink.c `netlink_rcv_skb`), exactly as separate calls would; each refused line gets
    /// ipvsadm's message for it, in input order.
    mutating func restore(program: String) -> Int32 {
        let input = Self.standardInput()
        var reader = IPVSAdmRestoreReader(String(decoding: input, as: UTF8.self))
        var queue = RestoreQueue()
        var result: Int32 = 0
        let posixlyCorrect = Self.posixlyCorrect
        while let words = reader.nextLine() {
            if words.isEmpty { continue }
            let arguments = [program] + words
            if let invocation = try? IPVSAdmParser.parse(
                arguments, readingRestore: true, posixlyCorrect: posixlyCorrect),
                let change = Self.change(invocation)
            {
                queue.append(change)
                continue
            }
            if let status = send(&queue) { result = status }
            result = process(arguments, readingRestore: true)
        }
        if let status = send(&queue) { result = status }
        return result
    }

    /// All of stdin, as `-R` reads it.
    static func standardInput() -> [UInt8] {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(0, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            input.append(contentsOf: chunk[..<n])
        }
        return input
    }

    /// Sends the queued changes as one batch, prints the message of each refused one in order, and empties the
    /// queue. Returns the status of the last queued line (0, or ipvsadm's -1 when refused), nil when none was queued.
    mutating func send(_ queue: inout RestoreQueue) -> Int32? {
        guard !queue.requests.isEmpty else { return nil }
        defer { queue = RestoreQueue() }
        let result = handle.perform(batch: queue.requests)
        var last: Int32 = 0
        for index in queue.requests.indices {
            let error: IPVSError
            switch result.outcome(of: index) {
            case .applied:
                last = 0
                continue
            case .failed(let e): error = e
            case .unconfirmed(let e), .notSent(let e): error = e
            }
            output.flushIfTerminal()
            output.error(IPVSAdmErrorText.message(queue.functions[index], error) + "\n")
            last = 255
        }
        return last
    }

    /// The kernel request and the libipvs function ipvsadm would call for a command that changes the table, or nil
    /// for every other command (run one at a time, in order).
    static func change(_ invocation: IPVSAdmInvocation) -> (IPVSRequest, IPVSAdmErrorText.Function)? {
        switch invocation.command {
        case .addService:
            return (request(.newService(service(invocation.service)), invocation.service), .addService)
        case .editService:
            return (request(.setService(service(invocation.service)), invocation.service), .editService)
        case .deleteService:
            return (.deleteService(service(invocation.service)), .deleteService)
        case .addServer:
            return (.newDestination(server(invocation.server), in: service(invocation.service)), .addDestination)
        case .editServer:
            return (.setDestination(server(invocation.server), in: service(invocation.service)), .editDestination)
        case .deleteServer:
            return (.deleteDestination(server(invocation.server), in: service(invocation.service)), .deleteDestination)
        case .flush:
            return (.flush, .flush)
        case .setTimeouts:
            let t = invocation.timeouts
            return (.setConfig(IPVSTimeouts(tcp: t.tcp, tcpFin: t.tcpFin, udp: t.udp)), .setTimeouts)
        case .zero:
            let a = invocation.service
            let named = a.firewallMark != 0 || a.port != 0 || (a.address.map { !isZero($0) } ?? false)
            return named ? (.zero(service(a)), .zeroService) : (.zero(nil), .zeroService)
        default:
            return nil
        }
    }
}

/// Changes read from a restore, waiting to be sent together.
struct RestoreQueue {
    var requests: [IPVSRequest] = []
    var functions: [IPVSAdmErrorText.Function] = []

    mutating func append(_ change: (IPVSRequest, IPVSAdmErrorText.Function)) {
        requests.append(change.0)
        functions.append(change.1)
    }
}
