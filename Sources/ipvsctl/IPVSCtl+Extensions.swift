import Glibc
import IPVSAdmin
import IPVSNetlink

/// What ipvsctl does before it connects to IPVS: take its own options out of the command line, print the texts that
/// need no kernel, and move the process into the `--netns` namespace so that everything after (the netlink socket,
/// /proc/net/ip_vs_conn, `-R`'s lines, the sync daemon) happens there.
extension IPVSCtl {
    /// The extensions and ipvsadm's command line, or the process's exit status when it is done already.
    static func prepare(_ arguments: [String], _ output: Output) -> Result<(IPVSCtlExtensions, [String]), Exit> {
        let extensions: IPVSCtlExtensions
        let rest: [String]
        do throws(IPVSAdmExit) { (extensions, rest) = try IPVSCtlExtensions.extract(arguments) } catch {
            output.error(error.standardError)
            return .failure(Exit(status: error.status))
        }
        let program = rest.first ?? "ipvsctl"
        if extensions.helpExtensions {
            output.out(IPVSCtlDocumentation.extensionsHelp(program: program))
            return .failure(Exit(status: 0))
        }
        if let shell = extensions.completionShell {
            output.out(IPVSCtlDocumentation.completionScript(shell))
            return .failure(Exit(status: 0))
        }
        if extensions.manual {
            output.out(IPVSCtlDocumentation.manual())
            return .failure(Exit(status: 0))
        }
        // `--help` first (popt reads the first option as the command, and help ends it): ipvsadm's usage, then a
        // pointer to the extensions. `-h` prints the usage alone, unchanged.
        if rest.count >= 2 && rest[1] == "--help" {
            output.out(IPVSAdmUsage.text(program: program) + IPVSCtlDocumentation.helpPointer(program: program))
            return .failure(Exit(status: 0))
        }
        if let namespace = extensions.networkNamespace {
            do throws(IPVSError) {
                if namespace.contains("/") {
                    try IPVSHandle.enterNetworkNamespace(atPath: namespace)
                } else {
                    try IPVSHandle.enterNetworkNamespace(named: namespace)
                }
            } catch {
                output.error("ipvsctl: --netns \(namespace): \(Self.namespaceProblem(error))\n")
                return .failure(Exit(status: 2))
            }
        }
        return .success((extensions, rest))
    }

    struct Exit: Error {
        var status: Int32
    }

    static func namespaceProblem(_ error: IPVSError) -> String {
        switch error.reason {
        case .networkNamespaceNotFound(let name):
            return "no network namespace named \"\(name)\" (\(IPVSHandle.namedNetworkNamespaceDirectory)/\(name) does "
                + "not exist; `ip netns add \(name)` creates it)"
        case .invalidNetworkNamespaceName(let name):
            return "\"\(name)\" is not a network namespace name (a file name under "
                + "\(IPVSHandle.namedNetworkNamespaceDirectory))"
        case .system(let call, let e) where call.hasPrefix("setns") && e == EINVAL:
            return "not a network namespace (\(call): \(String(cString: strerror(e))))"
        case .system(let call, let e) where call.hasPrefix("setns") && e == EPERM:
            return "cannot enter it (\(call): \(String(cString: strerror(e))); you must be root)"
        case .system(let call, let e): return "\(call): \(String(cString: strerror(e)))"
        default: return error.description
        }
    }
}
