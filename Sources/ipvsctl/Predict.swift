import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

extension Session {
    /// `ipvsctl predict …`: reads the service, its destinations (kernel list order, with counters) and
    /// /proc/net/ip_vs_conn, then asks `IPVSPredictor`. Statuses: see `IPVSCtlPredictCommand.usage`.
    /// The command line is parsed before the kernel is opened (IPVSCtl.run).
    mutating func predict(_ command: IPVSCtlPredictCommand) -> Int32 {
        let lookup = VirtualService(command.service)
        let entry: IPVSServiceEntry
        let destinations: [IPVSDestinationEntry]
        do throws(IPVSError) {
            entry = try handle.service(lookup)
            destinations = try handle.destinations(of: entry.service)
        } catch {
            output.error(IPVSAdmErrorText.message(.getService, error) + "\n")
            return 1
        }
        let connections: [IPVSConnectionEntry]
        do throws(IPVSConnectionListError) { connections = try IPVSConnectionList.read() } catch {
            output.error("\(error)\n")
            return 1
        }
        let sysctls = Self.predictionSysctls()
        var status: Int32 = 0
        for (i, client) in command.clients.enumerated() {
            let query = IPVSPredictionQuery(
                service: entry.service, destinations: destinations, connections: connections,
                client: client.address, clientPort: client.port, packetAddress: command.packetAddress,
                packetPort: command.packetPort, ipProtocol: command.ipProtocol, sysctls: sysctls)
            let prediction = IPVSPredictor.predict(query)
            if command.json {
                output.out(IPVSCtlPredictCommand.json(prediction, query))
            } else {
                output.out((i > 0 ? "\n" : "") + IPVSCtlPredictCommand.text(prediction, query))
            }
            let s = prediction.exitStatus
            if s == IPVSPredictor.exitUnknown || (s != 0 && status == 0) { status = s }
        }
        return status
    }

    /// net.ipv4.vs.conn_reuse_mode, expire_nodest_conn and expire_quiescent_template of this namespace; the
    /// kernel's defaults where a file cannot be read.
    static func predictionSysctls() -> IPVSPredictionSysctls {
        func read(_ name: String) -> Int? {
            guard let f = fopen("/proc/sys/net/ipv4/vs/" + name, "r") else { return nil }
            defer { fclose(f) }
            var buffer = [CChar](repeating: 0, count: 32)
            guard fgets(&buffer, 32, f) != nil else { return nil }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return Int(text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? "")
        }
        return IPVSPredictionSysctls(
            connectionReuseMode: read("conn_reuse_mode") ?? 1,
            expireNoDestinationConnection: (read("expire_nodest_conn") ?? 0) != 0,
            expireQuiescentTemplate: (read("expire_quiescent_template") ?? 0) != 0)
    }
}
