import IPVSCore
import IPVSNetlink

/// From a parsed ipvsadm command line to the kernel request libipvs would send for it: what `-R` queues into a batch
/// and what the single commands perform.
public enum IPVSAdmRequests {
    /// The kernel request and the libipvs function ipvsadm would call for a command that changes the table, or nil
    /// for every other command (run one at a time, in order).
    public static func change(_ invocation: IPVSAdmInvocation) -> (IPVSRequest, IPVSAdmErrorText.Function)? {
        guard let function = function(invocation.command) else { return nil }
        return (request(invocation), function)
    }

    /// The libipvs function ipvsadm calls for a command that changes the table; nil for the other commands.
    public static func function(_ command: IPVSAdmCommand) -> IPVSAdmErrorText.Function? {
        switch command {
        case .addService: return .addService
        case .editService: return .editService
        case .deleteService: return .deleteService
        case .addServer: return .addDestination
        case .editServer: return .editDestination
        case .deleteServer: return .deleteDestination
        case .flush: return .flush
        case .setTimeouts: return .setTimeouts
        case .zero: return .zeroService
        case .list, .startDaemon, .stopDaemon, .restore, .save: return nil
        }
    }

    /// The kernel request of a command that changes the table (one ``function(_:)`` has a function for).
    public static func request(_ invocation: IPVSAdmInvocation) -> IPVSRequest {
        switch invocation.command {
        case .addService: return request(.newService(service(invocation.service)), invocation.service)
        case .editService: return request(.setService(service(invocation.service)), invocation.service)
        case .deleteService: return .deleteService(service(invocation.service))
        case .addServer: return .newDestination(server(invocation.server), in: service(invocation.service))
        case .editServer: return .setDestination(server(invocation.server), in: service(invocation.service))
        case .deleteServer: return .deleteDestination(server(invocation.server), in: service(invocation.service))
        case .flush: return .flush
        case .setTimeouts:
            let t = invocation.timeouts
            return .setConfig(IPVSTimeouts(tcp: t.tcp, tcpFin: t.tcpFin, udp: t.udp))
        case .zero:
            let a = invocation.service
            return isNamed(a) ? .zero(service(a)) : .zero(nil)
        case .list, .startDaemon, .stopDaemon, .restore, .save:
            preconditionFailure("\(invocation.command.name) does not change the table")
        }
    }

    /// libipvs `ipvs_zero_service`: a service only when one is named (mark, address or port not zero).
    public static func isNamed(_ a: IPVSAdmServiceArgument) -> Bool {
        a.firewallMark != 0 || a.port != 0 || (a.address.map { !isZero($0) } ?? false)
    }

    public static func service(_ a: IPVSAdmServiceArgument) -> VirtualService {
        let key: ServiceKey
        if a.firewallMark != 0 {
            key = .firewallMark(a.firewallMark, a.family ?? .inet)
        } else {
            let p: IPProtocol = a.ipProtocol == 17 ? .udp : a.ipProtocol == 132 ? .sctp : .tcp
            key = .address(p, a.address ?? .v4(IPv4Address(0)), port: a.port)
        }
        // Destination lines name no scheduler: no string lookup for them (most lines of a restore).
        let scheduler = a.schedulerName.isEmpty ? .wlc : SchedulerKind(rawValue: a.schedulerName) ?? .wlc
        return VirtualService(
            key, scheduler: scheduler, flags: a.flags,
            persistenceTimeout: a.timeout, netmask: a.netmask,
            persistenceEngine: a.persistenceEngine.isEmpty ? nil : a.persistenceEngine)
    }

    /// The request with the scheduler name exactly as given: the kernel, not ipvsctl, decides which exist.
    public static func request(_ base: IPVSRequest, _ a: IPVSAdmServiceArgument) -> IPVSRequest {
        var request = base
        request.schedulerName = a.schedulerName
        return request
    }

    public static func isZero(_ a: IPAddress) -> Bool {
        switch a {
        case .v4(let v4): return v4.value == 0
        case .v6(let v6): return v6.high == 0 && v6.low == 0
        }
    }

    public static func server(_ a: IPVSAdmServerArgument) -> RealServer {
        RealServer(
            a.address ?? .v4(IPv4Address(0)), port: a.port, forwarding: a.forwarding, weight: a.weight,
            upperThreshold: a.upperThreshold, lowerThreshold: a.lowerThreshold,
            tunnelType: TunnelType(rawValue: UInt8(a.tunnelType)) ?? .ipip, tunnelPort: a.tunnelPort,
            tunnelFlags: TunnelFlags(rawValue: a.tunnelFlags))
    }
}
