import Glibc
import IPVSNetlink

/// ipvsadm's error messages for a failed libipvs call (libipvs.c `ipvs_strerror`): the message depends on the
/// errno and on which libipvs function failed last, so it is chosen here by the function ipvsadm would have called.
public enum IPVSAdmErrorText {
    /// The libipvs functions whose errors have messages of their own.
    public enum Function: Hashable, Sendable {
        case initialize, addService, editService, deleteService, zeroService, addDestination, editDestination
        case deleteDestination, startDaemon, stopDaemon, getServices, getDestinations, getService, flush
        case getTimeouts, setTimeouts, getDaemon
    }

    /// `ipvs_strerror(errno)` after `function` failed.
    public static func message(_ function: Function, errno e: Int32) -> String {
        switch (function, e) {
        case (.addService, EEXIST): return "Service already exists"
        case (.addService, ENOENT), (.editService, ENOENT): return "Scheduler or persistence engine not found"
        case (.editService, ESRCH), (.deleteService, ESRCH), (.zeroService, ESRCH), (.getServices, ESRCH),
            (.getDestinations, ESRCH), (.getService, ESRCH):
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

    /// The errno ipvsadm would have seen for `error`. Where no errno reached this process (no IPVS family: ipvsadm
    /// then falls back to a raw socket, which fails with EPERM for a non-root user and ENOPROTOOPT otherwise; a
    /// timeout; a malformed reply), the closest one.
    public static func errno(of error: IPVSError) -> Int32 {
        switch error.reason {
        case .kernel(let e), .system(_, let e): return e
        case .ipvsNotInKernel: return geteuid() == 0 ? ENOPROTOOPT : EPERM
        case .timedOut: return ETIMEDOUT
        case .repliesLost: return ENOBUFS
        case .libnl, .malformedReply: return EINVAL
        case .networkNamespaceNotFound: return ENOENT
        case .invalidNetworkNamespaceName: return EINVAL
        }
    }

    /// The message ipvsadm prints when `function` failed with `error`.
    public static func message(_ function: Function, _ error: IPVSError) -> String {
        message(function, errno: errno(of: error))
    }
}
