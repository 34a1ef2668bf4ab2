/// An SCTP association's state as IPVS tracks it (`IP_VS_SCTP_S_*` in include/net/ip_vs.h, in the kernel's order).
public enum SCTPState: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case initSent1
    case initSent
    case cookieSent
    case cookieReplied
    case cookieWait
    case cookie
    case cookieEchoed
    case established
    case shutdownSent
    case shutdownReceived
    case shutdownAckSent
    case rejected
    case closed

    /// The kernel's names (ip_vs_proto_sctp.c `sctp_state_name_table`).
    public var description: String {
        switch self {
        case .none: return "NONE"
        case .initSent1: return "INIT1"
        case .initSent: return "INIT"
        case .cookieSent: return "C-SENT"
        case .cookieReplied: return "C-REPLIED"
        case .cookieWait: return "C-WAIT"
        case .cookie: return "COOKIE"
        case .cookieEchoed: return "C-ECHOED"
        case .established: return "ESTABLISHED"
        case .shutdownSent: return "S-SENT"
        case .shutdownReceived: return "S-RECEIVED"
        case .shutdownAckSent: return "S-ACK-SENT"
        case .rejected: return "REJECTED"
        case .closed: return "CLOSED"
        }
    }

    /// Only ESTABLISHED counts in `activeconns` (ip_vs_proto_sctp.c `set_sctp_state`).
    @inlinable
    public var isActive: Bool { self == .established }
}

/// The kernel's SCTP state machine for IPVS associations: ip_vs_proto_sctp.c `sctp_events`, `sctp_states` and
/// `set_sctp_state`. It is driven by the type of the first chunk of a packet (for a COOKIE ECHO or COOKIE ACK
/// followed by an ABORT, the caller passes ABORT, as `set_sctp_state` looks at the second chunk then).
public enum SCTPStateMachine {
    /// The event a chunk type stands for (ip_vs_proto_sctp.c `sctp_events`, RFC 4960 chunk ids): DATA, SACK,
    /// HEARTBEAT, HEARTBEAT ACK, ECNE, CWR and every unknown type are "data".
    @inlinable
    static func eventRow(chunkType: UInt8) -> Int {
        switch chunkType {
        case 1: return 1  // INIT
        case 2: return 2  // INIT ACK
        case 10: return 3  // COOKIE ECHO
        case 11: return 4  // COOKIE ACK
        case 7: return 5  // SHUTDOWN
        case 8: return 6  // SHUTDOWN ACK
        case 14: return 7  // SHUTDOWN COMPLETE
        case 9: return 8  // ERROR
        case 6: return 9  // ABORT
        default: return 0  // DATA, SACK, HEARTBEAT(-ACK), ECNE, CWR, others
        }
    }

    @inlinable
    static func next(from state: SCTPState, _ direction: StateTableDirection, chunkType: UInt8) -> SCTPState {
        let row = direction.rawValue * 10 + eventRow(chunkType: chunkType)
        let bits = packedRow(row) >> (UInt64(state.rawValue) &* 4) & 0xF
        return SCTPState(rawValue: UInt8(truncatingIfNeeded: bits)) ?? .closed
    }

    /// `table`'s rows packed four bits per state, as constants (see `TCPStateMachine.packedRow`).
    @inlinable
    static func packedRow(_ row: Int) -> UInt64 {
        switch row {
        case 0: return 0x00DC_BA98_7654_3218
        case 1: return 0x0022_BA98_7654_3221
        case 2: return 0x00DC_BA98_7664_3555
        case 3: return 0x00DC_BA98_7654_4224
        case 4: return 0x00DC_BA98_8654_3218
        case 5: return 0x00DC_BA9A_7654_321A
        case 6: return 0x00DC_DAD8_7654_322D
        case 7: return 0x00DC_DA98_7654_3DDD
        case 8: return 0x00DC_BA98_D654_321D
        case 9: return 0x00DD_DDDD_DDCD_DDDD
        case 10: return 0x00DC_BA98_7654_3218
        case 11: return 0x0055_5558_5555_5555
        case 12: return 0x00DC_BA98_7654_3333
        case 13: return 0x00DC_BA98_7777_7777
        case 14: return 0x00DC_BA98_8888_8888
        case 15: return 0x00DC_BA99_9999_9999
        case 16: return 0x00DC_BBB8_765B_BBBB
        case 17: return 0x00DC_BA98_7654_321D
        case 18: return 0x00DC_BA98_765D_DDDD
        case 19: return 0x00DD_DDDD_DDDD_DDCD
        case 20: return 0x00DC_BA98_7684_3218
        case 21: return 0x0022_BA98_7622_2221
        case 22: return 0x00DC_BA98_7677_7777
        case 23: return 0x00DC_BA98_7688_8888
        case 24: return 0x00DC_BA98_8858_8218
        case 25: return 0x00DC_BA9A_7654_321A
        case 26: return 0x00DC_DADD_7654_322D
        case 27: return 0x00DC_DD98_765D_DDDD
        case 28: return 0x00DC_BA98_7654_321D
        case 29: return 0x00DD_DDDD_DDCD_DDDD
        default: return 0
        }
    }

    /// The state after a packet whose (first) chunk is `chunkType`, travelling in `direction`; with the new value
    /// of `IP_VS_CONN_F_NOOUTPUT`.
    public static func next(from state: SCTPState, direction: PacketDirection, chunkType: UInt8,
                            noOutput: Bool = false) -> (state: SCTPState, noOutput: Bool) {
        let (rows, stillNoOutput) = StateTableDirection.resolve(direction, noOutput: noOutput)
        return (next(from: state, rows, chunkType: chunkType), stillNoOutput)
    }

    /// ip_vs_proto_sctp.c `sctp_states[direction][event][state]`, flattened.
    @usableFromInline
    static let table: [UInt8] = {
        let NO = SCTPState.none.rawValue, I1 = SCTPState.initSent1.rawValue, IN = SCTPState.initSent.rawValue
        let CS = SCTPState.cookieSent.rawValue, CR = SCTPState.cookieReplied.rawValue
        let CW = SCTPState.cookieWait.rawValue, CO = SCTPState.cookie.rawValue
        let CE = SCTPState.cookieEchoed.rawValue, ES = SCTPState.established.rawValue
        let SS = SCTPState.shutdownSent.rawValue, SR = SCTPState.shutdownReceived.rawValue
        let SA = SCTPState.shutdownAckSent.rawValue, RJ = SCTPState.rejected.rawValue
        let CL = SCTPState.closed.rawValue
        _ = NO  // NONE is never a next state
        let rows: [[UInt8]] = [
            // INPUT     NO  I1  IN  CS  CR  CW  CO  CE  ES  SS  SR  SA  RJ  CL
            /* d   */   [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* i   */   [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
            /* i_a */   [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* c_e */   [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* c_a */   [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
            /* s   */   [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
            /* s_a */   [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
            /* s_c */   [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
            /* err */   [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
            /* ab  */   [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
            // OUTPUT
            /* d   */   [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* i   */   [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
            /* i_a */   [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* c_e */   [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
            /* c_a */   [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
            /* s   */   [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
            /* s_a */   [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
            /* s_c */   [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* err */   [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* ab  */   [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
            // INPUT-ONLY
            /* d   */   [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* i   */   [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
            /* i_a */   [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* c_e */   [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* c_a */   [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
            /* s   */   [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
            /* s_a */   [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
            /* s_c */   [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
            /* err */   [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
            /* ab  */   [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
        ]
        return rows.flatMap { $0 }
    }()
}
