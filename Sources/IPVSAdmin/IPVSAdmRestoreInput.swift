import IPVSNetlink

/// What `ipvsadm -R` reads, line by line: the changes to send as a batch, and the other lines to run one at a
/// time (ipvsadm's `restore_table` loop, config_stream.c `config_stream_read` for the words).
///
/// A line `-S -n` writes is read by ``IPVSAdmRestoreFastPath`` from its bytes; any other line by the full parser
/// (``IPVSAdmParser``), and when that refuses it or it is not a change, its words are handed back for the caller to
/// run, which prints ipvsadm's message for it.
public struct IPVSAdmRestoreInput {
    /// The changes read and not yet taken, in input order: the requests, and the libipvs function each stands for
    /// (for its error message).
    public var requests: [IPVSRequest] = []
    public var functions: [IPVSAdmErrorText.Function] = []

    /// The bytes held: all of the input, or for a ``Source`` the part not yet read and the piece last read.
    var reader: IPVSAdmRestoreReader
    let program: String
    let posixlyCorrect: Bool
    /// false: every line through the full parser (tools/bench/restore-parse compares both).
    let fastPath: Bool
    /// Where more of the input comes from, until it says the input ended; nil when all of it was given.
    var source: Source?
    /// The room one read of the source gets.
    var piece: [UInt8] = []

    /// Reads the next piece of the input into the buffer it is given and returns how many bytes it read: 0 (or
    /// less, for an error) at the end of the input. `-R` reads standard input this way (ipvsctl's
    /// `Session.restore`), so that the first lines are parsed and sent while the rest is still arriving, as
    /// ipvsadm's line-by-line reading overlaps its reading with the kernel's work.
    public typealias Source = (UnsafeMutableRawBufferPointer) -> Int

    /// All of the input at once.
    /// - Parameter room: changes to make room for at first (every line, when not given).
    public init(_ input: [UInt8], program: String, posixlyCorrect: Bool, fastPath: Bool = true, room: Int? = nil) {
        self.reader = IPVSAdmRestoreReader(bytes: input)
        self.program = program
        self.posixlyCorrect = posixlyCorrect
        self.fastPath = fastPath
        // Room for every line as a change: a change line is at least 20 bytes (`-D -t 1.2.3.4:1` and its newline).
        let room = room ?? min(input.count / 20 + 1, 1 << 20)
        requests.reserveCapacity(room)
        functions.reserveCapacity(room)
    }

    /// The input as `source` delivers it, piece by piece (up to `pieceSize` bytes each). Lines are read as soon as
    /// their newline has arrived; everything read is the same as when the whole input is given at once.
    /// - Parameter room: changes to make room for at first.
    public init(
        reading source: @escaping Source, program: String, posixlyCorrect: Bool, fastPath: Bool = true,
        room: Int = 512, pieceSize: Int = 1 << 17
    ) {
        self.init([], program: program, posixlyCorrect: posixlyCorrect, fastPath: fastPath, room: room)
        self.source = source
        self.piece = [UInt8](repeating: 0, count: max(1, pieceSize))
    }

    /// Reads the next piece from the source into the bytes held; false at the end of the input (or without one).
    mutating func readPiece() -> Bool {
        guard let source else { return false }
        let count = piece.withUnsafeMutableBytes { source($0) }
        guard count > 0 else {
            self.source = nil
            piece = []
            return false
        }
        piece.withUnsafeBytes { reader.append(UnsafeRawBufferPointer(rebasing: $0[..<min(count, $0.count)])) }
        return true
    }

    /// Where ``readChanges(limit:)`` stopped.
    public enum Stop: Sendable {
        /// At a line with words that is not a change: run it as a command line (`program` first) after the changes
        /// read before it.
        case command([String])
        /// ``requests`` holds `limit` changes; more lines may follow.
        case full
        /// At the end of the input.
        case end
    }

    /// Reads lines, appending each change to ``requests`` and ``functions``, until `limit` changes are there, the
    /// first line with words that is not a change, or the end of the input.
    public mutating func readChanges(limit: Int = .max) -> Stop {
        while requests.count < limit {
            let words: [String]
            if let line = reader.nextTerminatedLine() {
                if fastPath,
                    let fast = reader.bytes.withUnsafeBufferPointer({
                        IPVSAdmRestoreFastPath.parse(UnsafeBufferPointer(rebasing: $0[line]))
                    }), append(fast)
                {
                    continue
                }
                words = IPVSAdmRestoreReader.words(reader.bytes[line])
            } else if readPiece() {
                continue  // the rest of a line, or more lines, arrived
            } else if let last = reader.nextLine() {
                words = last
            } else {
                return .end
            }
            if words.isEmpty { continue }
            let arguments = [program] + words
            if let invocation = try? IPVSAdmParser.parse(
                arguments, readingRestore: true, posixlyCorrect: posixlyCorrect), append(invocation)
            {
                continue
            }
            return .command(arguments)
        }
        return .full
    }

    /// Hands over the changes read so far and empties ``requests`` and ``functions``, with room for `room` more.
    public mutating func takeChanges(room: Int) -> ([IPVSRequest], [IPVSAdmErrorText.Function]) {
        var taken: ([IPVSRequest], [IPVSAdmErrorText.Function]) = ([], [])
        swap(&taken.0, &requests)
        swap(&taken.1, &functions)
        requests.reserveCapacity(room)
        functions.reserveCapacity(room)
        return taken
    }

    /// Queues the invocation's change; false when it is not a change.
    mutating func append(_ invocation: IPVSAdmInvocation) -> Bool {
        guard let function = IPVSAdmRequests.function(invocation.command) else { return false }
        requests.append(IPVSAdmRequests.request(invocation))
        functions.append(function)
        return true
    }
}
