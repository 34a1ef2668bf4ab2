import IPVSCore
import IPVSNetlink
import IPVSTap

/// The kernel's IPVS table, as the verifier starts from it: every service with its destinations in the kernel's list
/// order and their counters (IPVS_CMD_GET_SERVICE and IPVS_CMD_GET_DEST dumps).
enum KernelTableSnapshot {
    static func read(networkNamespace path: String) throws -> [ServiceSnapshot] {
        var handle = try IPVSHandle(networkNamespace: path)
        var result: [ServiceSnapshot] = []
        for entry in try handle.services() {
            let destinations = try handle.destinations(of: entry.service).map { d in
                DestinationState(d.server, activeConnections: Int32(d.activeConnections),
                                 inactiveConnections: Int32(d.inactiveConnections),
                                 persistentConnections: Int32(d.persistentConnections))
            }
            result.append(ServiceSnapshot(service: entry.service, destinations: destinations))
        }
        return result
    }
}
