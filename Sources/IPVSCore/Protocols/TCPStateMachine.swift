/// A TCP connection's state as IPVS tracks it (`IP_VS_TCP_S_*` in include/net/ip_vs.h, in the kernel's order).
public enum TCPState: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case established
    case synSent
    case synReceived
    case finWait
    case timeWait
    case close
    case closeWait
    case lastAck
    case listen
    case synAck

    /// The name `ipvsadm -lc` and `/proc/net/ip_vs_conn` print (ip_vs_proto_tcp.c `tcp_state_name_table`).
    public var description: String {
        switch self {
        case .none: return "NONE"
        case .established: return "ESTABLISHED"
        case .synSent: return "SYN_SENT"
        case .synReceived: return "SYN_RECV"
        case .finWait: return "FIN_WAIT"
        case .timeWait: return "TIME_WAIT"
        case .close: return "CLOSE"
        case .closeWait: return "CLOSE_WAIT"
        case .lastAck: return "LAST_ACK"
        case .listen: return "LISTEN"
        case .synAck: return "SYNACK"
        }
    }

    /// Whether a connection in this state counts in its destination's `activeconns` (ip_vs_proto_tcp.c
    /// `tcp_state_active_table` of Linux 6.1: ESTABLISHED and the three handshake states SYN_SENT, SYN_RECV and
    /// SYNACK). Every other state counts as inactive.
    @inlinable
    public var isActive: Bool {
        switch self {
        case .established, .synSent, .synReceived, .synAck: return true
        default: return false
        }
    }
}

/// The TCP header flags the state machine reads (bit values of the TCP header's flags byte).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
}

/// The kernel's TCP state machine for IPVS connections: ip_vs_proto_tcp.c `tcp_states` (the normal table; the
/// `secure_tcp` defence table `tcp_states_dos` is not modelled) and `set_tcp_state`.
public enum TCPStateMachine {
    /// The row a packet's flags select (ip_vs_proto_tcp.c `tcp_state_idx`): RST wins over SYN, SYN over FIN, FIN
    /// over ACK; `nil` for a packet with none of them.
    @inlinable
    static func eventRow(_ flags: TCPFlags) -> Int? {
        if flags.contains(.rst) { return 3 }
        if flags.contains(.syn) { return 0 }
        if flags.contains(.fin) { return 1 }
        if flags.contains(.ack) { return 2 }
        return nil
    }

    /// The state after a packet with `flags` travelling in `direction`, from `state`; the kernel's
    /// `tcp_states[direction + event].next_state[state]`. A packet with none of SYN, FIN, ACK, RST moves the
    /// connection to CLOSE, as `set_tcp_state` does (`new_state` starts as `IP_VS_TCP_S_CLOSE`).
    @inlinable
    static func next(from state: TCPState, _ direction: StateTableDirection, _ flags: TCPFlags) -> TCPState {
        guard let row = eventRow(flags) else { return .close }
        let bits = packedRow(direction.rawValue * 4 + row) >> (UInt64(state.rawValue) &* 4) & 0xF
        return TCPState(rawValue: UInt8(truncatingIfNeeded: bits)) ?? .close
    }

    /// `table`'s rows packed four bits per state (state `s` in bits `4s…4s+3`), as constants: the packet path reads
    /// them without touching a global array. A test checks them against `table`.
    @inlinable
    static func packedRow(_ row: Int) -> UInt64 {
        switch row {
        case 0: return 0x0000_0333_3333_3113
        case 1: return 0x0000_0598_7655_5276
        case 2: return 0x0000_0196_7654_1211
        case 3: return 0x0000_0398_6666_3666
        case 4: return 0x0000_0392_2222_3212
        case 5: return 0x0000_0598_5654_5245
        case 6: return 0x0000_0118_7654_1211
        case 7: return 0x0000_0666_6656_6266
        case 8: return 0x0000_0333_3333_3113
        case 9: return 0x0000_0598_7654_5246
        case 10: return 0x0000_0196_7654_1211
        case 11: return 0x0000_0698_6666_3666
        default: return 0
        }
    }

    /// The state after a packet, for a connection with or without `IP_VS_CONN_F_NOOUTPUT`; returns the new
    /// state and the new value of that flag (an output packet clears it).
    public static func next(from state: TCPState, direction: PacketDirection, flags: TCPFlags,
                            noOutput: Bool = false) -> (state: TCPState, noOutput: Bool) {
        let (rows, stillNoOutput) = StateTableDirection.resolve(direction, noOutput: noOutput)
        return (next(from: state, rows, flags), stillNoOutput)
    }

    /// ip_vs_proto_tcp.c `tcp_states`, three directions (input, output, input-only) of four events (syn, fin,
    /// ack, rst), each a row indexed by the current state in `TCPState` order.
    @usableFromInline
    static let table: [UInt8] = {
        // NONE is never a next state.
        let ES = TCPState.established.rawValue, SS = TCPState.synSent.rawValue
        let SR = TCPState.synReceived.rawValue, FW = TCPState.finWait.rawValue, TW = TCPState.timeWait.rawValue
        let CL = TCPState.close.rawValue, CW = TCPState.closeWait.rawValue, LA = TCPState.lastAck.rawValue
        let LI = TCPState.listen.rawValue, SA = TCPState.synAck.rawValue
        let rows: [[UInt8]] = [
            // INPUT          NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
            /* syn */        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
            /* fin */        [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
            /* ack */        [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
            /* rst */        [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
            // OUTPUT
            /* syn */        [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
            /* fin */        [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
            /* ack */        [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
            /* rst */        [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
            // INPUT-ONLY
            /* syn */        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
            /* fin */        [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
            /* ack */        [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
            /* rst */        [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
        ]
        return rows.flatMap { $0 }
    }()
}
