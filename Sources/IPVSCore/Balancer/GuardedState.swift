import Synchronization

/// A value behind a `Mutex`, whose lock order ThreadSanitizer can see.
///
/// The standard library's `Mutex` synchronises inside code that is not instrumented, so under
/// `--sanitize=thread` every access it protects looks like a race. Each critical section here also loads a
/// counter with acquire ordering on entry and stores it, incremented, with release ordering on exit: the next
/// holder's load reads the previous holder's store, which is the happens-before edge ThreadSanitizer needs. On
/// x86-64 both are plain moves; the mutex itself provides the exclusion.
final class GuardedState<Value: Sendable>: @unchecked Sendable {
    private let mutex: Mutex<Value>
    private let handoff = Atomic<UInt64>(0)

    init(_ value: Value) { mutex = Mutex(value) }

    @inline(__always)
    func withLock<R: Sendable, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try mutex.withLock { (v: inout sending Value) throws(E) -> sending R in
            let h = handoff.load(ordering: .acquiring)
            defer { handoff.store(h &+ 1, ordering: .releasing) }
            return try body(&v)
        }
    }
}
