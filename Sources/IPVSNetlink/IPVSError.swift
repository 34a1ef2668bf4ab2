import Glibc

/// An IPVS operation that failed, and why. `description` words it as ipvsadm does for the same operation and errno
/// (libipvs `ipvs_strerror`), so that messages read the same whichever tool made the change.
public struct IPVSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The operation, named after ipvsadm's (and libipvs's) command.
    public enum Operation: String, Hashable, Sendable {
        case open = "open the IPVS netlink socket"
        case getInfo = "get IPVS info"
        case addService = "add service"
        case editService = "edit service"
        case deleteService = "delete service"
        case getService = "get service"
        case listServices = "list services"
        case addDestination = "add destination"
        case editDestination = "edit destination"
        case deleteDestination = "delete destination"
        case listDestinations = "list destinations"
        case getTimeouts = "get timeouts"
        case setTimeouts = "set timeouts"
        case flush = "flush"
        case zeroService = "zero service"
        case zeroAll = "zero all counters"
        case startDaemon = "start daemon"
        case stopDaemon = "stop daemon"
        case listDaemons = "list daemons"
        case listConnections = "list connections"
    }

    public enum Reason: Hashable, Sendable {
        /// The kernel refused the request with this errno (its NLMSG_ERROR reply).
        case kernel(errno: Int32)
        /// A system call failed (socket, setns, send, recv, …).
        case system(call: String, errno: Int32)
        /// The kernel has no IPVS generic netlink family: ip_vs is not loaded (or not in this kernel).
        case ipvsNotInKernel
        /// No reply within the handle's timeout.
        case timedOut
        /// The receive buffer overflowed (ENOBUFS): replies were lost.
        case repliesLost
        /// libnl failed with this NLE_* code (and its message).
        case libnl(code: Int32, message: String)
        /// A reply could not be decoded.
        case malformedReply(IPVSCodecError)
        /// No network namespace by this name under /run/netns (`ip netns add NAME` creates one).
        case networkNamespaceNotFound(String)
        /// A namespace name that cannot be a file of /run/netns.
        case invalidNetworkNamespaceName(String)
    }

    public var operation: Operation
    public var reason: Reason

    public init(_ operation: Operation, _ reason: Reason) {
        self.operation = operation
        self.reason = reason
    }

    /// The errno the kernel or a system call returned, if that is what failed.
    public var errno: Int32? {
        switch reason {
        case .kernel(let e), .system(_, let e): return e
        default: return nil
        }
    }

    public var description: String {
        switch reason {
        case .kernel(let e): return "\(operation.rawValue): \(Self.ipvsadmMessage(operation, e))"
        case .system(let call, let e): return "\(operation.rawValue): \(call): \(String(cString: strerror(e)))"
        case .ipvsNotInKernel:
            return "\(operation.rawValue): IPVS is not in the kernel (load the ip_vs module: modprobe ip_vs)"
        case .timedOut: return "\(operation.rawValue): the kernel did not answer in time"
        case .repliesLost: return "\(operation.rawValue): replies lost (netlink receive buffer overflowed)"
        case .libnl(let code, let message): return "\(operation.rawValue): libnl error \(code): \(message)"
        case .malformedReply(let error): return "\(operation.rawValue): malformed reply: \(error)"
        case .networkNamespaceNotFound(let name):
            return "\(operation.rawValue): no network namespace named \"\(name)\" (/run/netns/\(name) does not exist; "
                + "`ip netns add \(name)` creates it)"
        case .invalidNetworkNamespaceName(let name):
            return "\(operation.rawValue): invalid network namespace name \"\(name)\" (a file name under /run/netns)"
        }
    }

    /// libipvs `ipvs_strerror` (ipvsadm 1.31, Debian 12): first the (operation, errno) pairs, then errno alone, then
    /// strerror. Every pair of its table is here; the kernel tests compare each with what ipvsadm prints.
    static func ipvsadmMessage(_ operation: Operation, _ e: Int32) -> String {
        switch (operation, e) {
        case (.addService, EEXIST): return "Service already exists"
        case (.addService, ENOENT), (.editService, ENOENT): return "Scheduler or persistence engine not found"
        case (.editService, ESRCH), (.deleteService, ESRCH), (.getService, ESRCH), (.listServices, ESRCH),
            (.listDestinations, ESRCH), (.zeroService, ESRCH), (.zeroAll, ESRCH):
            return "No such service"
        case (.addDestination, ESRCH), (.editDestination, ESRCH), (.deleteDestination, ESRCH):
            return "Service not defined"
        case (.addDestination, EEXIST): return "Destination already exists"
        case (.editDestination, ENOENT), (.deleteDestination, ENOENT): return "No such destination"
        case (.startDaemon, EEXIST): return "Daemon has already run"
        case (.stopDaemon, ESRCH): return "No daemon is running"
        case (_, EPERM): return "Permission denied (you must be root)"
        case (_, EINVAL): return "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        case (_, ENOPROTOOPT): return "Protocol not available"
        case (_, ENOMEM): return "Memory allocation problem"
        case (_, EOPNOTSUPP): return "Operation not supported with IPv6"
        case (_, EAFNOSUPPORT): return "Operation not supported with specified address family"
        case (_, EMSGSIZE): return "Module is wrong version"
        default: return String(cString: strerror(e))
        }
    }
}
