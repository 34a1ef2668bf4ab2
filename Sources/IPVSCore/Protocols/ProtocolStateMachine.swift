/// One entry point for the three protocols' state machines, on raw state values as a connection entry stores them
/// (`cp->state`: a `TCPState`, an `SCTPState`, or 0 for UDP's single state `IP_VS_UDP_S_NORMAL`).
public enum ProtocolStateMachine {
    /// The state of a new connection before its first packet: `cp->state = 0` in ip_vs_conn.c `ip_vs_conn_new`
    /// (TCP NONE, SCTP NONE, UDP NORMAL).
    public static let initialState: UInt8 = 0

    /// The state after a packet (ip_vs_core.c `ip_vs_set_state` → the protocol's `state_transition`), and the new
    /// value of `IP_VS_CONN_F_NOOUTPUT`. `event` is the TCP flags byte for TCP, the first chunk's type for SCTP, and
    /// ignored for UDP (ip_vs_proto_udp.c `udp_state_transition` only restarts the timer).
    @inlinable
    public static func next(_ ipProtocol: IPProtocol, state: UInt8, direction: PacketDirection, event: UInt8,
                            noOutput: Bool) -> (state: UInt8, noOutput: Bool) {
        let (rows, stillNoOutput) = StateTableDirection.resolve(direction, noOutput: noOutput)
        switch ipProtocol {
        case .tcp:
            let s = TCPState(rawValue: state) ?? .none
            return (TCPStateMachine.next(from: s, rows, TCPFlags(rawValue: event)).rawValue, stillNoOutput)
        case .sctp:
            let s = SCTPState(rawValue: state) ?? .none
            return (SCTPStateMachine.next(from: s, rows, chunkType: event).rawValue, stillNoOutput)
        case .udp:
            return (0, stillNoOutput)
        }
    }

    /// Whether a connection in `state` counts in `activeconns`; UDP connections never do.
    @inlinable
    public static func isActive(_ ipProtocol: IPProtocol, state: UInt8) -> Bool {
        switch ipProtocol {
        case .tcp: return TCPState(rawValue: state)?.isActive ?? false
        case .sctp: return SCTPState(rawValue: state)?.isActive ?? false
        case .udp: return false
        }
    }

    /// The name the kernel prints for `state`.
    public static func name(_ ipProtocol: IPProtocol, state: UInt8) -> String {
        switch ipProtocol {
        case .tcp: return TCPState(rawValue: state)?.description ?? "ERR!"
        case .sctp: return SCTPState(rawValue: state)?.description ?? "ERR!"
        case .udp: return state == 0 ? "UDP" : "ERR!"
        }
    }
}
