/// How long a connection lives in each protocol state without a packet, in seconds: the kernel's per-protocol
/// `timeout_table` (ip_vs_proto_tcp.c `tcp_timeouts`, ip_vs_proto_udp.c `udp_timeouts`, ip_vs_proto_sctp.c
/// `sctp_timeouts`). Every packet of a connection restarts its timer with the timeout of the state it is then in
/// (`cp->timeout = pd->timeout_table[cp->state]`, then `ip_vs_conn_put`).
public struct ProtocolTimeouts: Hashable, Sendable {
    /// Seconds per `TCPState`, in state order.
    public private(set) var tcp: [UInt32]
    /// Seconds for UDP's one state (`IP_VS_UDP_S_NORMAL`).
    public private(set) var udp: UInt32
    /// Seconds per `SCTPState`, in state order.
    public private(set) var sctp: [UInt32]

    /// The kernel's defaults.
    public init() {
        tcp = TCPState.allCases.map(Self.defaultTimeout)
        udp = 300
        sctp = SCTPState.allCases.map(Self.defaultTimeout)
    }

    /// ip_vs_proto_tcp.c `tcp_timeouts`.
    public static func defaultTimeout(_ state: TCPState) -> UInt32 {
        switch state {
        case .none: return 2
        case .established: return 15 * 60
        case .synSent: return 2 * 60
        case .synReceived: return 60
        case .finWait: return 2 * 60
        case .timeWait: return 2 * 60
        case .close: return 10
        case .closeWait: return 60
        case .lastAck: return 30
        case .listen: return 2 * 60
        case .synAck: return 120
        }
    }

    /// ip_vs_proto_sctp.c `sctp_timeouts` (`IP_VS_SCTP_MAX_RTO` is 61 s).
    public static func defaultTimeout(_ state: SCTPState) -> UInt32 {
        let maxRTO: UInt32 = 60 + 1
        switch state {
        case .none: return 2
        case .initSent1, .rejected: return 0 + 3 + 1
        case .established: return 15 * 60
        case .initSent, .cookieSent, .cookieReplied, .cookieWait, .cookie, .cookieEchoed, .shutdownSent,
             .shutdownReceived, .shutdownAckSent, .closed:
            return maxRTO
        }
    }

    /// The largest timeout the kernel accepts: `INT_MAX / HZ` seconds (ip_vs_ctl.c `ip_vs_set_timeout`), with
    /// Debian's `HZ` of 250.
    public static let maximumSeconds: UInt32 = UInt32(Int32.max) / 250

    public subscript(state: TCPState) -> UInt32 { tcp[Int(state.rawValue)] }
    public subscript(state: SCTPState) -> UInt32 { sctp[Int(state.rawValue)] }

    /// `ipvsadm --set tcp tcpfin udp` (ip_vs_ctl.c `ip_vs_set_timeout`): sets the TCP ESTABLISHED, TCP FIN_WAIT and
    /// UDP timeouts; 0 leaves a value as it is. A value above `maximumSeconds` is refused and nothing changes.
    public mutating func set(tcp established: UInt32, tcpFin: UInt32, udp newUDP: UInt32)
        throws(ProtocolTimeoutError)
    {
        for (name, v) in [("tcp", established), ("tcpfin", tcpFin), ("udp", newUDP)] where v > Self.maximumSeconds {
            throw .outOfRange(name, v)
        }
        if established != 0 { tcp[Int(TCPState.established.rawValue)] = established }
        if tcpFin != 0 { tcp[Int(TCPState.finWait.rawValue)] = tcpFin }
        if newUDP != 0 { udp = newUDP }
    }

    /// Sets one TCP state's timeout (the kernel's per-state table; only `set(tcp:tcpFin:udp:)` is reachable
    /// through netlink). 0 and values above `maximumSeconds` are refused.
    public mutating func set(_ state: TCPState, seconds: UInt32) throws(ProtocolTimeoutError) {
        guard seconds > 0 && seconds <= Self.maximumSeconds else { throw .outOfRange("tcp \(state)", seconds) }
        tcp[Int(state.rawValue)] = seconds
    }

    /// Sets one SCTP state's timeout. 0 and values above `maximumSeconds` are refused.
    public mutating func set(_ state: SCTPState, seconds: UInt32) throws(ProtocolTimeoutError) {
        guard seconds > 0 && seconds <= Self.maximumSeconds else { throw .outOfRange("sctp \(state)", seconds) }
        sctp[Int(state.rawValue)] = seconds
    }

    /// The timeout of raw state `state` of `ipProtocol` (a `TCPState`, `SCTPState` or, for UDP, 0).
    public func seconds(_ ipProtocol: IPProtocol, state: UInt8) -> UInt32 {
        switch ipProtocol {
        case .tcp: return tcp[Int(state)]
        case .udp: return udp
        case .sctp: return sctp[Int(state)]
        }
    }
}

/// A refused timeout: which one, and the value.
public enum ProtocolTimeoutError: Error, Hashable, Sendable, CustomStringConvertible {
    case outOfRange(String, UInt32)

    public var description: String {
        switch self {
        case .outOfRange(let name, let v):
            let most = ProtocolTimeouts.maximumSeconds
            return "timeout \(name) = \(v) s is out of range (at most \(most) s, INT_MAX / HZ)"
        }
    }
}
