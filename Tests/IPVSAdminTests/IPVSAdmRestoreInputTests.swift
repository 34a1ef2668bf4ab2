import IPVSAdmin
import IPVSNetlink
import Testing

/// `-R` reads stdin piece by piece as it arrives (``IPVSAdmRestoreInput``'s `init(reading:…)`): whatever the pieces,
/// it must read exactly what it reads from the whole input at once — the same changes in the same batches, the same
/// command lines at the same places, and ipvsadm's quirks at the end of the input.
@Suite("ipvsctl -R input read in pieces")
struct IPVSAdmRestoreInputTests {
    /// What reading `input` gives, call by call: each stop of `readChanges(limit:)` with the changes taken there.
    enum Event: Equatable, CustomStringConvertible {
        case changes([IPVSRequest], [IPVSAdmErrorText.Function])
        case command([String])
        case full
        case end

        var description: String {
            switch self {
            case .changes(let requests, _): "changes(\(requests.count): \(requests.first.map { "\($0)" } ?? "")…)"
            case .command(let words): "command(\(words.joined(separator: " ")))"
            case .full: "full"
            case .end: "end"
            }
        }
    }

    static func events(_ input: inout IPVSAdmRestoreInput, limit: Int) -> [Event] {
        var events: [Event] = []
        while true {
            let stop = input.readChanges(limit: limit)
            if !input.requests.isEmpty {
                let (requests, functions) = input.takeChanges(room: limit)
                events.append(.changes(requests, functions))
            }
            switch stop {
            case .command(let words): events.append(.command(words))
            case .full: events.append(.full)
            case .end:
                events.append(.end)
                return events
            }
        }
    }

    /// `bytes` delivered in pieces of the sizes `sizes` gives (at most `pieceSize` each, as read(2) would).
    static func streamed(_ bytes: [UInt8], pieceSize: Int, sizes: @escaping () -> Int) -> IPVSAdmRestoreInput {
        var offset = 0
        return IPVSAdmRestoreInput(
            reading: { buffer in
                let n = min(max(1, sizes()), buffer.count, bytes.count - offset)
                guard n > 0 else { return 0 }
                bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
                offset += n
                return n
            }, program: "ipvsadm", posixlyCorrect: false, room: 4, pieceSize: pieceSize)
    }

    static func compare(_ text: String, seed: UInt64, limit: Int) {
        let bytes = Array(text.utf8)
        var whole = IPVSAdmRestoreInput(bytes, program: "ipvsadm", posixlyCorrect: false)
        let expected = events(&whole, limit: limit)
        var r = SplitMix(seed: seed)
        for pieceSize in [1, 2, 7, 64, 1 << 17] {
            var input = streamed(bytes, pieceSize: pieceSize) { 1 + r.below(pieceSize) }
            let got = events(&input, limit: limit)
            let context = "seed \(seed), pieces of at most \(pieceSize), limit \(limit)"
            #expect(got == expected, "\(context): \(text.debugDescription)")
        }
    }

    @Test("The quirks of the last line, blank lines, `ipvsadm` words and command lines, in pieces of every size")
    func handWrittenInputs() {
        let inputs = [
            "",
            "\n",
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1\n",
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1",  // no newline at the end
            "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1 \t",  // blanks at the very end
            "-A -t 10.0.0.1:80 -s rr\n\n   \n\t\r\n-L -n\n-D -t 10.0.0.1:80\n",
            "ipvsadm -A -t 10.0.0.1:80\nipvsadm\n-C\n-Z\n--set 1 2 3\n-A -t nonsense\n-E -t 10.0.0.1:80 -s wrr\n",
            "-A -f 5 -6 -s sh -b sh-port\r\n-a -f 5 -6 -r [2001:db8::1]:0 -i -x 10 -y 5\r\n",
        ]
        for (i, text) in inputs.enumerated() {
            for limit in [1, 2, 1000] { Self.compare(text, seed: UInt64(i), limit: limit) }
        }
    }

    @Test("Generated inputs (good and bad lines, odd blanks, commands between changes): the same events in pieces")
    func generatedInputs() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var r = SplitMix(seed: seed)
        for round in 0..<40 {
            var lines: [String] = []
            for _ in 0..<(1 + r.below(60)) {
                switch r.below(12) {
                case 0: lines.append(r.pick(["", " ", "\t", "\r", "ipvsadm"]))
                case 1: lines.append(r.pick(["-L -n", "-S -n", "--set 10 20 30", "-Z", "-C"]))
                default: lines.append(IPVSAdmRestoreFastPathTests.generatedLine(&r))
                }
            }
            var text = lines.joined(separator: "\n")
            if r.chance(70) { text += "\n" } else if r.chance(50) { text += r.pick([" ", "\t\t", "\r"]) }
            Self.compare(text, seed: seed &+ UInt64(round), limit: r.pick([1, 3, 512]))
        }
    }

    @Test("A line longer than the largest piece is read whole")
    func longLine() {
        let line = "-A -t 10.0.0.1:80 -s rr" + String(repeating: " ", count: 140_000) + "-p 60\n-L\n"
        Self.compare(line, seed: 1, limit: 10)
    }
}
