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
    ///
    /// Most lines are what `-S -n` writes: ``IPVSAdmRestoreFastPath`` reads those from their bytes; every other
    /// line goes through the full parser, which gives ipvsadm's message for a bad one.
    mutating func restore(program: String) -> Int32 {
        var input = IPVSAdmRestoreInput(Self.standardInput(), program: program, posixlyCorrect: Self.posixlyCorrect)
        var result: Int32 = 0
        while true {
            let command = input.readChanges()
            if let status = send(&input) { result = status }
            guard let command else { return result }
            result = process(command, readingRestore: true)
        }
    }

    /// All of stdin, as `-R` reads it.
    static func standardInput() -> [UInt8] {
        var input: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
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
    mutating func send(_ queue: inout IPVSAdmRestoreInput) -> Int32? {
        guard !queue.requests.isEmpty else { return nil }
        defer { queue.removeAllChanges() }
        let result = handle.perform(batch: queue.requests)
        if result.allApplied { return 0 }
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
}
