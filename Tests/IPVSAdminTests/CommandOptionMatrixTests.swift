import IPVSAdmin
import Testing

/// ipvsadm's command-versus-option table, checked cell by cell against what ipvsadm's manual and source say, and
/// the messages its check gives.
struct CommandOptionMatrixTests {
    @Test func everyCommandHasARuleForEveryOption() {
        for command in IPVSAdmCommand.allCases {
            for option in IPVSAdmOption.allCases {
                _ = CommandOptionMatrix.rule(command, option)  // traps on a short row or an unknown character
            }
        }
        #expect(IPVSAdmOption.allCases.count == 34)
        #expect(IPVSAdmCommand.allCases.count == 14)
    }

    @Test func serviceIsRequiredExactlyWhereIpvsadmRequiresIt() {
        let required = IPVSAdmCommand.allCases.filter { CommandOptionMatrix.rule($0, .service) == .required }
        #expect(required == [.addService, .editService, .deleteService, .addServer, .deleteServer, .editServer])
        let realServer = IPVSAdmCommand.allCases.filter { CommandOptionMatrix.rule($0, .realServer) == .required }
        #expect(realServer == [.addServer, .deleteServer, .editServer])
    }

    @Test func listOptionsAreExclusiveOrOptional() {
        let exclusive = IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.list, $0) == .exclusive }
        #expect(exclusive == [.connection, .service, .timeout, .daemon])
        let optional = IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.list, $0) == .optional }
        #expect(
            optional == [
                .numeric, .stats, .rate, .thresholds, .persistentConnections, .noSort, .syncID, .exact, .tunnelInfo,
            ])
    }

    @Test func commandsWithoutOptionsRefuseEveryOption() {
        for command in [IPVSAdmCommand.flush, .setTimeouts, .restore] {
            #expect(IPVSAdmOption.allCases.allSatisfy { CommandOptionMatrix.rule(command, $0) == .illegal })
        }
        #expect(
            IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.save, $0) != .illegal } == [.numeric])
        #expect(IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.zero, $0) != .illegal } == [.service])
    }

    @Test func daemonOptionsBelongToTheDaemonCommands() {
        let start = IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.startDaemon, $0) == .optional }
        #expect(start == [.mcastInterface, .syncID, .mcastGroup, .mcastPort, .mcastTTL, .syncMaxLength])
        let stop = IPVSAdmOption.allCases.filter { CommandOptionMatrix.rule(.stopDaemon, $0) == .optional }
        #expect(stop == [.syncID])
    }

    @Test func serverOptionsBelongToServerCommands() {
        let serverOptions: [IPVSAdmOption] = [
            .forwarding, .weight, .upperThreshold, .lowerThreshold, .tunnelType, .tunnelPort, .tunnelNoChecksum,
            .tunnelChecksum, .tunnelRemoteChecksum,
        ]
        for option in serverOptions {
            #expect(CommandOptionMatrix.rule(.addServer, option) == .optional)
            #expect(CommandOptionMatrix.rule(.editServer, option) == .optional)
            #expect(CommandOptionMatrix.rule(.deleteServer, option) == .illegal)
            #expect(CommandOptionMatrix.rule(.addService, option) == .illegal)
        }
        for option in [IPVSAdmOption.scheduler, .persistent, .netmask, .onePacket, .persistenceEngine, .schedulerFlags]
        {
            #expect(CommandOptionMatrix.rule(.addService, option) == .optional)
            #expect(CommandOptionMatrix.rule(.editService, option) == .optional)
            #expect(CommandOptionMatrix.rule(.addServer, option) == .illegal)
        }
    }

    @Test func violationsAreReportedInColumnOrderWithIpvsadmsWords() {
        #expect(
            CommandOptionMatrix.violation(.addService, IPVSAdmOptionSet([.upperThreshold]))
                == "You need to supply the 'service-address' option for the 'add-service' command")
        #expect(
            CommandOptionMatrix.violation(.addService, IPVSAdmOptionSet([.service, .weight, .numeric]))
                == "Illegal 'numeric' option with the 'add-service' command")
        #expect(
            CommandOptionMatrix.violation(.list, IPVSAdmOptionSet([.timeout, .connection]))
                == "The option 'timeout' conflicts with the 'connection' option in the 'list' command")
        #expect(CommandOptionMatrix.violation(.list, IPVSAdmOptionSet([.numeric, .stats, .exact])) == nil)
    }

    @Test func tunnelTypesTakeTheirOwnOptions() {
        #expect(
            TunnelOptionMatrix.violation(tunnelType: 1, IPVSAdmOptionSet([]))
                == "You need to supply the 'tun-port' option for the 'gue' tunnel type")
        #expect(
            TunnelOptionMatrix.violation(tunnelType: 2, IPVSAdmOptionSet([.tunnelPort]))
                == "Illegal 'tun-port' option with the 'gre' tunnel type")
        #expect(
            TunnelOptionMatrix.violation(tunnelType: 1, IPVSAdmOptionSet([.tunnelPort, .tunnelChecksum, .tunnelNoChecksum]))
                == "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type")
        #expect(TunnelOptionMatrix.violation(tunnelType: 0, IPVSAdmOptionSet([])) == nil)
    }
}
