import Foundation
import Glibc

/// tcpdump on one interface of a namespace, writing to a pcap file. Capturing once the initializer returns;
/// ``stop()`` ends it and returns the packets as `tcpdump -n` prints them, one a line.
final class PacketCapture {
    private let process: BackgroundProcess
    private let file: URL

    init(in namespace: NetworkNamespace, interface: String, filter: [String] = []) throws {
        file = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-test-\(UUID().uuidString).pcap")
        // --immediate-mode: hand each packet to tcpdump as it arrives. Without it the kernel batches packets in
        // blocks that it releases after a timeout, and a capture stopped soon after the traffic holds nothing.
        // -U: write each packet to the file at once. -Z root: keep root (the file is ours, not the tcpdump user's).
        process = try namespace.start(
            Tool.tcpdump,
            ["-Z", "root", "-n", "-U", "--immediate-mode", "-i", interface, "-w", file.path] + filter)
        let process = self.process
        try waitUntil("tcpdump listens on \(interface) in \(namespace.name)") {
            guard process.isRunning else { throw CommandFailure(result: process.stop()) }
            return process.standardError.contains("listening on")
        }
    }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(at: file)
    }

    /// Stops the capture (SIGINT, so tcpdump flushes and closes the file) and decodes what it caught.
    func stop() throws -> [String] {
        process.stop(signal: SIGINT)
        return try Command.check(Tool.tcpdump, ["-n", "-r", file.path]).split(separator: "\n").map(String.init)
    }
}
