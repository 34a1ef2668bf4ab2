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

    let input: [UInt8]
    var reader: IPVSAdmRestoreReader
    let program: String
    let posixlyCorrect: Bool
    /// false: every line through the full parser (tools/bench/restore-parse compares both).
    let fastPath: Bool

    public init(_ input: [UInt8], program: String, posixlyCorrect: Bool, fastPath: Bool = true) {
        self.input = input
        self.reader = IPVSAdmRestoreReader(bytes: input)
        self.program = program
        self.posixlyCorrect = posixlyCorrect
        self.fastPath = fastPath
        // Room for every line as a change: a change line is at least 20 bytes (`-D -t 1.2.3.4:1` and its newline).
        let room = min(input.count / 20 + 1, 1 << 20)
        requests.reserveCapacity(room)
        functions.reserveCapacity(room)
    }

    /// Reads lines, appending each change to ``requests`` and ``functions``, up to the first line with words that
    /// is not a change: returns that line as a command line (`program` first), to run after the changes before it.
    /// nil at the end of the input.
    public mutating func readChanges() -> [String]? {
        while true {
            let words: [String]
            if let line = reader.nextTerminatedLine() {
                if fastPath,
                    let fast = input.withUnsafeBufferPointer({
                        IPVSAdmRestoreFastPath.parse(UnsafeBufferPointer(rebasing: $0[line]))
                    }), append(fast)
                {
                    continue
                }
                words = IPVSAdmRestoreReader.words(input[line])
            } else if let last = reader.nextLine() {
                words = last
            } else {
                return nil
            }
            if words.isEmpty { continue }
            let arguments = [program] + words
            if let invocation = try? IPVSAdmParser.parse(
                arguments, readingRestore: true, posixlyCorrect: posixlyCorrect), append(invocation)
            {
                continue
            }
            return arguments
        }
    }

    /// Empties ``requests`` and ``functions``, keeping their room.
    public mutating func removeAllChanges() {
        requests.removeAll(keepingCapacity: true)
        functions.removeAll(keepingCapacity: true)
    }

    /// Queues the invocation's change; false when it is not a change.
    mutating func append(_ invocation: IPVSAdmInvocation) -> Bool {
        guard let function = IPVSAdmRequests.function(invocation.command) else { return false }
        requests.append(IPVSAdmRequests.request(invocation))
        functions.append(function)
        return true
    }
}
