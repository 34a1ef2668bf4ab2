import CIPVSLinux
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
    /// line goes through the full parser, which gives ipvsadm's message for a bad one. The lines are read on a
    /// thread of their own (``RestorePipeline``) while this one sends what was read before: the kernel does its work
    /// in the sending thread (netlink_unicast to the kernel socket runs the command there), so reading and applying
    /// overlap on two CPUs; that thread also encodes each chunk into netlink messages (``IPVSEncodedBatch``), so that
    /// this one only copies them into its sends. Stdin is read piece by piece as it arrives, not whole first:
    /// 10 000 × 10 lines (5.3 MB) took 0.35–0.5 s to come through a pipe in the kernel VM, time in which the kernel
    /// would otherwise wait.
    mutating func restore(program: String) -> Int32 {
        Self.keepLargeAllocationsInTheHeap()
        let pipeline = RestorePipeline(
            IPVSAdmRestoreInput(
                reading: Self.readStandardInput, program: program, posixlyCorrect: Self.posixlyCorrect,
                room: RestorePipeline.firstChunk),
            family: handle.familyID, portID: handle.portID)
        pipeline.start()
        var result: Int32 = 0
        while true {
            switch pipeline.next() {
            case .changes(let batch, let functions):
                if let status = send(batch, functions) { result = status }
            case .command(let arguments):
                result = process(arguments, readingRestore: true)
                pipeline.commandDone()
            case .end:
                pipeline.join()
                return result
            }
        }
    }

    /// Each chunk of a restore allocates its buffers anew (its requests, the encoded messages: 1–2 MiB) on the
    /// reading thread, and the sending thread frees them. glibc maps every allocation above 128 KiB (at first) with
    /// mmap and unmaps it when freed, so each chunk's pages faulted in again, were zeroed by the kernel, and each
    /// unmap flushed the other CPU's TLB: in the kernel VM that was a fifth of the reading thread's time, and the
    /// sending thread (where the kernel does the restore's work) ran slower beside it. Kept in the heap and not
    /// trimmed, the memory freed by one chunk serves the next. ipvsctl is a command: it exits after the restore.
    static func keepLargeAllocationsInTheHeap() {
        // 32 MiB is the largest threshold glibc takes on 64-bit (HEAP_MAX_SIZE / 2).
        _ = CIPVSLinux_set_malloc_thresholds(32 << 20, 256 << 20)
    }

    /// The next piece of stdin, as `-R` reads it (``IPVSAdmRestoreInput/Source``): 0 at its end or on an error.
    static func readStandardInput(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let n = read(0, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            return max(n, 0)
        }
    }

    /// All of stdin.
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

    /// Sends changes as one batch and prints the message of each refused one in order. Returns the status of the last
    /// one (0, or ipvsadm's -1 when refused), nil when there were none.
    mutating func send(_ batch: IPVSEncodedBatch, _ functions: [IPVSAdmErrorText.Function]) -> Int32? {
        guard !batch.requests.isEmpty else { return nil }
        let result = handle.perform(batch: batch)
        if result.allApplied { return 0 }
        var last: Int32 = 0
        for index in batch.requests.indices {
            let error: IPVSError
            switch result.outcome(of: index) {
            case .applied:
                last = 0
                continue
            case .failed(let e): error = e
            case .unconfirmed(let e), .notSent(let e): error = e
            }
            output.flushIfTerminal()
            output.error(IPVSAdmErrorText.message(functions[index], error) + "\n")
            last = 255
        }
        return last
    }
}

/// `-R`'s reading thread: reads the input into chunks of changes while the main thread sends the chunks before.
///
/// A line that is not a change is handed over after the changes before it, and the reader waits until the main
/// thread has run it: such a line may print, resolve names or end the process, and everything after it must be read
/// only then (the C library's resolver is not reentrant, and the order of the output is the input's).
final class RestorePipeline: @unchecked Sendable {
    enum Item: Sendable {
        case changes(IPVSEncodedBatch, [IPVSAdmErrorText.Function])
        case command([String])
        case end
    }

    /// Changes per batch at most: enough to fill the sends of a batch. The first batches are smaller (from 512,
    /// doubling), so that the kernel starts on the first changes soon after the reading did.
    static let chunk = 8192
    static let firstChunk = 512
    private var limit = firstChunk

    /// Only the reading thread touches it once started.
    private var input: IPVSAdmRestoreInput
    /// Guarded by `mutex`.
    private var items: [Item] = []
    private var head = 0
    private var commandRunning = false
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var thread = pthread_t()
    /// No thread could be started: the main thread reads, one item at a time.
    private var inline = false
    /// The handle's, for encoding the changes on the reading thread.
    private let family: UInt16
    private let portID: UInt32

    init(_ input: IPVSAdmRestoreInput, family: UInt16, portID: UInt32) {
        self.input = input
        self.family = family
        self.portID = portID
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(
            &thread, nil,
            { context in
                let pipeline = Unmanaged<RestorePipeline>.fromOpaque(context!).takeRetainedValue()
                pipeline.readAll()
                return nil
            }, context)
        if started != 0 {
            Unmanaged<RestorePipeline>.fromOpaque(context).release()
            inline = true
        }
    }

    /// The next item, in input order (waits for the reading thread).
    func next() -> Item {
        if inline {
            if head < items.count {
                head += 1
                return items[head - 1]
            }
            items = readChunk()
            head = 1
            return items[0]
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while head == items.count { pthread_cond_wait(condition, mutex) }
        let item = items[head]
        items[head] = .end  // the chunk's memory goes with the batch
        head += 1
        return item
    }

    /// The main thread ran the command line it was handed: reading goes on.
    func commandDone() {
        if inline { return }
        pthread_mutex_lock(mutex)
        commandRunning = false
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// After `.end`: the reading thread has finished.
    func join() {
        if !inline { pthread_join(thread, nil) }
    }

    /// The reading thread.
    private func readAll() {
        while true {
            let chunk = readChunk()
            var last = Item.end
            pthread_mutex_lock(mutex)
            for item in chunk {
                items.append(item)
                last = item
            }
            if case .command = last { commandRunning = true }
            pthread_cond_broadcast(condition)
            while commandRunning { pthread_cond_wait(condition, mutex) }
            pthread_mutex_unlock(mutex)
            if case .end = last { return }
        }
    }

    /// Reads up to a chunk of changes and what stopped it: the changes (if any), then a command line or the end.
    private func readChunk() -> [Item] {
        let stop = input.readChanges(limit: limit)
        limit = min(Self.chunk, limit * 2)
        var chunk: [Item] = []
        if !input.requests.isEmpty {
            let (requests, functions) = input.takeChanges(room: limit)
            chunk.append(.changes(IPVSEncodedBatch(requests, family: family, portID: portID), functions))
        }
        switch stop {
        case .command(let arguments): chunk.append(.command(arguments))
        case .end: chunk.append(.end)
        case .full: break
        }
        return chunk
    }
}
