import Foundation

/// busybox httpd in a namespace, answering `GET /` with `identity` and a newline, so a client can tell which real
/// server a connection reached. Ready (listening) once the initializer returns; stopped when the last reference goes.
final class IdentityHTTPServer {
    let identity: String
    private let process: BackgroundProcess
    private let root: URL

    init(in namespace: NetworkNamespace, address: String, port: Int = 80, identity: String) throws {
        self.identity = identity
        root = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-test-www-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data((identity + "\n").utf8).write(to: root.appendingPathComponent("index.html"))
        // -f: stay in the foreground, so the process we hold is the server.
        process = try namespace.start(Tool.busybox, ["httpd", "-f", "-p", "\(address):\(port)", "-h", root.path])
        let process = self.process
        try waitUntil("httpd listens on \(address):\(port) in \(namespace.name)") {
            guard process.isRunning else { throw CommandFailure(result: process.stop()) }
            guard namespace.contains(process: process.processIdentifier) else { return false }
            return try NetworkNamespace.isListening(tcpPort: port, process: process.processIdentifier)
        }
    }

    deinit {
        process.stop()
        try? FileManager.default.removeItem(at: root)
    }
}
