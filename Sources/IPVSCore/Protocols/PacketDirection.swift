/// Which way a packet of a connection travels, as the kernel's state machines see it (`IP_VS_DIR_INPUT`,
/// `IP_VS_DIR_OUTPUT` in include/net/ip_vs.h).
///
/// The third kernel direction, `IP_VS_DIR_INPUT_ONLY`, is not chosen by the caller: a connection whose destination
/// does not forward by masquerading (NAT) carries `IP_VS_CONN_F_NOOUTPUT`, and its input packets use the input-only
/// rows until a reply is seen (ip_vs_proto_tcp.c `set_tcp_state`, ip_vs_proto_sctp.c `set_sctp_state`).
public enum PacketDirection: UInt8, Hashable, Sendable {
    /// Client → virtual service (`IP_VS_DIR_INPUT`).
    case input = 0
    /// Real server → client, a reply through the director (`IP_VS_DIR_OUTPUT`).
    case output = 1
}

/// The row set of a state table: `IP_VS_DIR_INPUT`, `IP_VS_DIR_OUTPUT`, `IP_VS_DIR_INPUT_ONLY`.
@usableFromInline
enum StateTableDirection: Int {
    case input = 0
    case output = 1
    case inputOnly = 2

    /// The rows a packet uses, and whether the connection still has `IP_VS_CONN_F_NOOUTPUT` afterwards: an output
    /// packet clears the flag, an input packet of a no-output connection uses the input-only rows.
    @inlinable
    static func resolve(_ direction: PacketDirection, noOutput: Bool) -> (StateTableDirection, noOutput: Bool) {
        switch direction {
        case .output: return (.output, false)
        case .input: return (noOutput ? .inputOnly : .input, noOutput)
        }
    }
}
