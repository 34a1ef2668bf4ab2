import Foundation

/// `waitUntil` ran out of time.
struct WaitTimedOut: Error, CustomStringConvertible {
    var condition: String
    var timeout: Duration
    var description: String { "timed out after \(timeout) waiting until \(condition)" }
}

/// Polls `check` until it is true, instead of sleeping a fixed time and hoping: the VM is emulated and its
/// host may be busy, so how long a server takes to listen varies a lot. `check` returns false for "not yet" and
/// throws to stop waiting at once (the server it waits for has died, say).
func waitUntil(
    _ condition: String,
    timeout: Duration = .seconds(30),
    interval: Duration = .milliseconds(20),
    _ check: () throws -> Bool
) throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try check() { return }
        if clock.now >= deadline { throw WaitTimedOut(condition: condition, timeout: timeout) }
        Thread.sleep(forTimeInterval: interval.timeInterval)
    }
}
