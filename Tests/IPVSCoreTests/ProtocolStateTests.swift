@testable import IPVSCore
import Testing

/// The protocol state machines against the kernel's tables (Linux 6.1 ip_vs_proto_tcp.c `tcp_states`,
/// ip_vs_proto_sctp.c `sctp_states`), written out here by state name, and hand-derived packet sequences.
@Suite("Protocol state machines and timeouts")
struct ProtocolStateTests {
    /// ip_vs_proto_tcp.c `tcp_states`, by name: for each direction, the rows syn, fin, ack, rst; columns in the
    /// kernel's state order NONE ES SS SR FW TW CL CW LA LI SA.
    static let kernelTCP: [(PacketDirection, Bool, [String])] = [
        (.input, false, [
            "SR ES ES SR SR SR SR SR SR SR SR",
            "CL CW SS TW TW TW CL CW LA LI TW",
            "ES ES SS ES FW TW CL CW CL LI ES",
            "CL CL CL SR CL CL CL CL LA LI SR",
        ]),
        (.output, false, [
            "SS ES SS SR SS SS SS SS SS LI SR",
            "TW FW SS TW FW TW CL TW LA LI TW",
            "ES ES SS ES FW TW CL CW LA ES ES",
            "CL CL SS CL CL TW CL CL CL CL CL",
        ]),
        (.input, true, [  // INPUT-ONLY: an input packet of a connection with IP_VS_CONN_F_NOOUTPUT
            "SR ES ES SR SR SR SR SR SR SR SR",
            "CL FW SS TW FW TW CL CW LA LI TW",
            "ES ES SS ES FW TW CL CW CL LI ES",
            "CL CL CL SR CL CL CL CL LA LI CL",
        ]),
    ]
    static let tcpShort: [String: TCPState] = [
        "NO": .none, "ES": .established, "SS": .synSent, "SR": .synReceived, "FW": .finWait, "TW": .timeWait,
        "CL": .close, "CW": .closeWait, "LA": .lastAck, "LI": .listen, "SA": .synAck,
    ]

    @Test("TCP: every cell of the kernel's table, for syn, fin, ack, rst in the three directions")
    func tcpTable() {
        let events: [TCPFlags] = [.syn, .fin, .ack, .rst]
        for (direction, noOutput, rows) in Self.kernelTCP {
            for (e, row) in rows.enumerated() {
                let expected = row.split(separator: " ").map { Self.tcpShort[String($0)]! }
                for from in TCPState.allCases {
                    let got = TCPStateMachine.next(from: from, direction: direction, flags: events[e],
                                                   noOutput: noOutput)
                    #expect(got.state == expected[Int(from.rawValue)],
                            "\(direction) noOutput=\(noOutput) \(events[e]) from \(from)")
                    #expect(got.noOutput == noOutput)
                }
            }
        }
    }

    @Test("TCP: RST wins over SYN, SYN over FIN, FIN over ACK; a packet without them closes")
    func tcpEventPriority() {
        let es = TCPState.established
        #expect(TCPStateMachine.next(from: es, direction: .input, flags: [.syn, .rst, .ack]).state == .close)
        #expect(TCPStateMachine.next(from: .none, direction: .input, flags: [.syn, .fin]).state == .synReceived)
        #expect(TCPStateMachine.next(from: es, direction: .input, flags: [.fin, .ack]).state == .closeWait)
        #expect(TCPStateMachine.next(from: es, direction: .input, flags: [.psh]).state == .close)
        #expect(TCPStateMachine.next(from: es, direction: .input, flags: []).state == .close)
    }

    @Test("TCP: an output packet clears no-output; input packets of a no-output connection use the input-only rows")
    func tcpNoOutput() {
        // ESTABLISHED + input FIN: CLOSE_WAIT with NAT, FIN_WAIT for direct routing (input-only).
        #expect(TCPStateMachine.next(from: .established, direction: .input, flags: .fin, noOutput: false).state
                == .closeWait)
        #expect(TCPStateMachine.next(from: .established, direction: .input, flags: .fin, noOutput: true).state
                == .finWait)
        let out = TCPStateMachine.next(from: .synReceived, direction: .output, flags: [.syn, .ack], noOutput: true)
        #expect(out.state == .synReceived && out.noOutput == false)
    }

    @Test("TCP: which states count as active (6.1 tcp_state_active_table)")
    func tcpActive() {
        let active = TCPState.allCases.filter(\.isActive)
        #expect(active == [.established, .synSent, .synReceived, .synAck])
        #expect(TCPState.allCases.map(\.description) == [
            "NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
            "LAST_ACK", "LISTEN", "SYNACK",
        ])
    }

    @Test("TCP: a NAT connection's life, packet by packet, with its state, activity and timeout")
    func tcpNATLifecycle() {
        let t = ProtocolTimeouts()
        var s = ProtocolStateMachine.initialState
        var noOutput = false
        let steps: [(PacketDirection, TCPFlags, TCPState, Bool, UInt32)] = [
            (.input, .syn, .synReceived, true, 60),  // client SYN
            (.output, [.syn, .ack], .synReceived, true, 60),  // server SYN+ACK (SYN row)
            (.input, .ack, .established, true, 900),  // handshake done
            (.input, [.psh, .ack], .established, true, 900),
            (.output, .ack, .established, true, 900),
            (.input, [.fin, .ack], .closeWait, false, 60),  // client closes: leaves the active states
            (.output, [.fin, .ack], .timeWait, false, 120),
            (.input, .ack, .timeWait, false, 120),
        ]
        for (i, (dir, flags, state, active, timeout)) in steps.enumerated() {
            (s, noOutput) = ProtocolStateMachine.next(.tcp, state: s, direction: dir, event: flags.rawValue,
                                                      noOutput: noOutput)
            #expect(TCPState(rawValue: s) == state, "step \(i)")
            #expect(ProtocolStateMachine.isActive(.tcp, state: s) == active, "step \(i)")
            #expect(t.seconds(.tcp, state: s) == timeout, "step \(i)")
        }
    }

    /// ip_vs_proto_sctp.c `sctp_states`: rows d i i_a c_e c_a s s_a s_c err ab; columns in state order
    /// NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL.
    static let kernelSCTP: [(PacketDirection, Bool, [String])] = [
        (.input, false, [
            "ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL", "I1 IN IN CS CR CW CO CE ES SS SR SA IN IN",
            "CW CW CW CS CR CO CO CE ES SS SR SA RJ CL", "CR IN IN CR CR CW CO CE ES SS SR SA RJ CL",
            "ES I1 IN CS CR CW CO ES ES SS SR SA RJ CL", "SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL",
            "CL IN IN CS CR CW CO CE ES CL SR CL RJ CL", "CL CL CL CS CR CW CO CE ES SS SR CL RJ CL",
            "CL I1 IN CS CR CW CO CL ES SS SR SA RJ CL", "CL CL CL CL CL RJ CL CL CL CL CL CL CL CL",
        ]),
        (.output, false, [
            "ES I1 IN CS CR CW CO CE ES SS SR SA RJ CL", "CW CW CW CW CW CW CW CW ES CW CW CW CW CW",
            "CS CS CS CS CR CW CO CE ES SS SR SA RJ CL", "CE CE CE CE CE CE CE CE ES SS SR SA RJ CL",
            "ES ES ES ES ES ES ES ES ES SS SR SA RJ CL", "SS SS SS SS SS SS SS SS SS SS SR SA RJ CL",
            "SA SA SA SA SA CW CO CE ES SA SA SA RJ CL", "CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL",
            "CL CL CL CL CL CW CO CE ES SS SR SA RJ CL", "CL RJ CL CL CL CL CL CL CL CL CL CL CL CL",
        ]),
        (.input, true, [
            "ES I1 IN CS CR ES CO CE ES SS SR SA RJ CL", "I1 IN IN IN IN IN CO CE ES SS SR SA IN IN",
            "CE CE CE CE CE CE CO CE ES SS SR SA RJ CL", "ES ES ES ES ES ES CO CE ES SS SR SA RJ CL",
            "ES I1 IN ES ES CW ES ES ES SS SR SA RJ CL", "SR I1 IN CS CR CW CO CE SR SS SR SA RJ CL",
            "CL IN IN CS CR CW CO CE CL CL SR CL RJ CL", "CL CL CL CL CL CW CO CE ES SS CL CL RJ CL",
            "CL I1 IN CS CR CW CO CE ES SS SR SA RJ CL", "CL CL CL CL CL RJ CL CL CL CL CL CL CL CL",
        ]),
    ]
    static let sctpShort: [String: SCTPState] = [
        "NO": .none, "I1": .initSent1, "IN": .initSent, "CS": .cookieSent, "CR": .cookieReplied,
        "CW": .cookieWait, "CO": .cookie, "CE": .cookieEchoed, "ES": .established, "SS": .shutdownSent,
        "SR": .shutdownReceived, "SA": .shutdownAckSent, "RJ": .rejected, "CL": .closed,
    ]
    /// A chunk type for each event row: DATA, INIT, INIT ACK, COOKIE ECHO, COOKIE ACK, SHUTDOWN, SHUTDOWN ACK,
    /// SHUTDOWN COMPLETE, ERROR, ABORT.
    static let sctpChunks: [UInt8] = [0, 1, 2, 10, 11, 7, 8, 14, 9, 6]

    @Test("SCTP: every cell of the kernel's table, for each event in the three directions")
    func sctpTable() {
        for (direction, noOutput, rows) in Self.kernelSCTP {
            for (e, row) in rows.enumerated() {
                let expected = row.split(separator: " ").map { Self.sctpShort[String($0)]! }
                for from in SCTPState.allCases {
                    let got = SCTPStateMachine.next(from: from, direction: direction, chunkType: Self.sctpChunks[e],
                                                    noOutput: noOutput)
                    #expect(got.state == expected[Int(from.rawValue)],
                            "\(direction) noOutput=\(noOutput) chunk \(Self.sctpChunks[e]) from \(from)")
                }
            }
        }
    }

    @Test("SCTP: SACK, HEARTBEAT, ECNE, CWR and unknown chunks are data; only ESTABLISHED is active")
    func sctpEventsAndActivity() {
        for chunk: UInt8 in [3, 4, 5, 12, 13, 15, 200] {
            #expect(SCTPStateMachine.next(from: .cookieWait, direction: .input, chunkType: chunk, noOutput: true)
                    .state == .established, "chunk \(chunk)")  // input-only d: CW → ES
        }
        #expect(SCTPState.allCases.filter(\.isActive) == [.established])
    }

    @Test("SCTP: an association's setup and shutdown through a NAT director")
    func sctpLifecycle() {
        var s = ProtocolStateMachine.initialState
        var noOutput = false
        let steps: [(PacketDirection, UInt8, SCTPState, UInt32)] = [
            (.input, 1, .initSent1, 4), (.output, 2, .cookieSent, 61), (.input, 10, .cookieReplied, 61),
            (.output, 11, .established, 900), (.input, 0, .established, 900), (.input, 7, .shutdownReceived, 61),
            (.output, 8, .shutdownAckSent, 61), (.input, 14, .closed, 61),
        ]
        let t = ProtocolTimeouts()
        for (i, (dir, chunk, state, timeout)) in steps.enumerated() {
            (s, noOutput) = ProtocolStateMachine.next(.sctp, state: s, direction: dir, event: chunk,
                                                      noOutput: noOutput)
            #expect(SCTPState(rawValue: s) == state, "step \(i)")
            #expect(t.seconds(.sctp, state: s) == timeout, "step \(i)")
        }
    }

    @Test("The packed rows the packet path reads are the tables, cell for cell")
    func packedRowsMatchTables() {
        let t = TCPState.allCases.count
        for row in 0..<12 {
            for state in 0..<t {
                let packed = UInt8(TCPStateMachine.packedRow(row) >> UInt64(4 * state) & 0xF)
                #expect(packed == TCPStateMachine.table[row * t + state], "TCP row \(row) state \(state)")
            }
        }
        let n = SCTPState.allCases.count
        for row in 0..<30 {
            for state in 0..<n {
                let packed = UInt8(SCTPStateMachine.packedRow(row) >> UInt64(4 * state) & 0xF)
                #expect(packed == SCTPStateMachine.table[row * n + state], "SCTP row \(row) state \(state)")
            }
        }
    }

    @Test("UDP: one state, never active, 300 s")
    func udp() {
        let (s, _) = ProtocolStateMachine.next(.udp, state: 0, direction: .output, event: 0xff, noOutput: false)
        #expect(s == 0)
        #expect(!ProtocolStateMachine.isActive(.udp, state: s))
        #expect(ProtocolTimeouts().seconds(.udp, state: s) == 300)
        #expect(ProtocolStateMachine.name(.udp, state: 0) == "UDP")
    }

    @Test("Timeouts: the kernel's defaults")
    func defaultTimeouts() {
        let t = ProtocolTimeouts()
        #expect(t.tcp == [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120])
        #expect(t.sctp == [2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61])
        #expect(t.udp == 300)
    }

    @Test("Timeouts: ipvsadm --set tcp tcpfin udp; 0 keeps a value; out of range changes nothing")
    func setTimeouts() throws {
        var t = ProtocolTimeouts()
        try t.set(tcp: 3600, tcpFin: 0, udp: 30)
        #expect(t[TCPState.established] == 3600 && t[TCPState.finWait] == 120 && t.udp == 30)
        try t.set(tcp: 0, tcpFin: 15, udp: 0)
        #expect(t[TCPState.established] == 3600 && t[TCPState.finWait] == 15 && t.udp == 30)
        let before = t
        #expect(throws: ProtocolTimeoutError.outOfRange("udp", 9_000_000)) {
            try t.set(tcp: 10, tcpFin: 10, udp: 9_000_000)
        }
        #expect(t == before)
        try t.set(tcp: ProtocolTimeouts.maximumSeconds, tcpFin: 0, udp: 0)
        #expect(t[TCPState.established] == 8_589_934)
        #expect(throws: ProtocolTimeoutError.self) { try t.set(.close, seconds: 0) }
        try t.set(SCTPState.established, seconds: 77)
        #expect(t.seconds(.sctp, state: SCTPState.established.rawValue) == 77)
    }
}
