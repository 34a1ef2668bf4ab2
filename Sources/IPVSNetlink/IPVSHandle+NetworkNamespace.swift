import Glibc

extension IPVSHandle {
    /// Where `ip netns` keeps its named network namespaces (iproute2 `NETNS_RUN_DIR`).
    public static let namedNetworkNamespaceDirectory = "/run/netns"

    /// Opens a handle in the network namespace `ip netns add NAME` created (the bind mount /run/netns/NAME).
    /// Throws `.networkNamespaceNotFound` when there is none by that name, `.invalidNetworkNamespaceName` for a
    /// name that is not a file name (empty, ".", "..", or with a "/"), before any socket is opened.
    public init(networkNamespaceNamed name: String, timeout: Duration = .seconds(5)) throws(IPVSError) {
        try self.init(networkNamespace: Self.networkNamespacePath(named: name), timeout: timeout)
    }

    /// /run/netns/NAME, once checked to exist.
    public static func networkNamespacePath(named name: String) throws(IPVSError) -> String {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/") else {
            throw IPVSError(.open, .invalidNetworkNamespaceName(name))
        }
        let path = "\(namedNetworkNamespaceDirectory)/\(name)"
        var status = stat()
        guard stat(path, &status) == 0 else {
            let e = Glibc.errno
            if e == ENOENT || e == ENOTDIR { throw IPVSError(.open, .networkNamespaceNotFound(name)) }
            throw IPVSError(.open, .system(call: "stat \(path)", errno: e))
        }
        return path
    }
}
