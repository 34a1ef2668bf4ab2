import Glibc
import IPVSCore

/// The lines `ipvsadm -S -n` writes, and the like, read straight from their bytes: what `-R` spends most of its
/// time on when it reads them through ``PoptScanner`` and ``IPVSAdmParser`` (a String and an Array per word, a C
/// string per number, a table walk per option).
///
/// It takes only what it is sure of and gives the very ``IPVSAdmInvocation`` ``IPVSAdmParser/parse(_:readingRestore:posixlyCorrect:)``
/// gives for it: the commands -A -E -D -a -e -d, each option a word of its own among `-t -u -f -s -p -M -r -m -g -i
/// -w -x -y -6 -o`, numbers in plain decimal digits, IPv4 addresses in plain dotted decimal (`a.b.c.d[:port]`, no
/// leading zeros: inet_aton would read them as octal), IPv6 addresses as `[addr]:port` or bare (read by
/// inet_pton, as ipvsadm reads them), numeric ports. Anything else — names to resolve, a long option, `-b`,
/// `--pe`, tunnel options, combined flags, a repeated option, a stray word, any line the full parser would refuse —
/// is nil, and the caller reads the line with the full parser, which prints ipvsadm's message for it. The host test
/// IPVSAdmRestoreFastPathTests checks both agree on a large generated corpus of good and bad lines.
public enum IPVSAdmRestoreFastPath {
    /// The invocation of one line (its bytes, the newline not included), or nil when the full parser must read it.
    public static func parse(_ line: UnsafeBufferPointer<UInt8>) -> IPVSAdmInvocation? {
        var cursor = WordCursor(line)
        guard let first = cursor.next(), first.count == 2, first.first == dash else { return nil }
        let command: IPVSAdmCommand
        switch first[first.startIndex + 1] {
        case UInt8(ascii: "A"): command = .addService
        case UInt8(ascii: "E"): command = .editService
        case UInt8(ascii: "D"): command = .deleteService
        case UInt8(ascii: "a"): command = .addServer
        case UInt8(ascii: "e"): command = .editServer
        case UInt8(ascii: "d"): command = .deleteServer
        default: return nil
        }
        var service = IPVSAdmServiceArgument()
        var server = IPVSAdmServerArgument()
        var options: UInt64 = 0
        // ipvsadm's `set_option`: a repeated option is refused (the full parser says so).
        func once(_ option: IPVSAdmOption) -> Bool {
            let bit: UInt64 = 1 << UInt64(option.rawValue)
            if options & bit != 0 { return false }
            options |= bit
            return true
        }

        while let word = cursor.next() {
            guard word.count == 2, word.first == dash else { return nil }
            let letter = word[word.startIndex + 1]
            switch letter {
            case UInt8(ascii: "t"), UInt8(ascii: "u"):
                guard once(.service), let text = cursor.next() else { return nil }
                service.ipProtocol = UInt16(letter == UInt8(ascii: "t") ? IPPROTO_TCP : IPPROTO_UDP)
                guard let parsed = addressPort(text) else { return nil }
                service.address = parsed.address
                service.family = parsed.address.family
                if parsed.address.family == .inet6 { service.netmask = 128 }
                if let port = parsed.port { service.port = port }
            case UInt8(ascii: "f"):
                guard once(.service), let text = cursor.next() else { return nil }
                guard let mark = decimal(text, max: UInt64(UInt32.max)), mark > 0 else { return nil }
                service.family = .inet
                service.ipProtocol = UInt16(IPPROTO_TCP)
                service.firewallMark = UInt32(mark)
            case UInt8(ascii: "s"):
                // Any byte beyond ASCII: the full parser cuts the repaired UTF-8, not the bytes.
                guard once(.scheduler), let text = cursor.next(), text.first != dash, text.allSatisfy({ $0 < 0x80 })
                else { return nil }
                service.schedulerName = String(decoding: UnsafeBufferPointer(rebasing: text.prefix(15)), as: UTF8.self)
            case UInt8(ascii: "p"):
                guard once(.persistent) else { return nil }
                service.flags.insert(.persistent)
                // popt's optional argument: the next word unless there is none or it starts with a dash.
                if let text = cursor.peek(), text.first != dash {
                    _ = cursor.next()
                    guard let t = decimal(text, max: UInt64(IPVSAdmParser.maxTimeout)), t >= 1 else { return nil }
                    service.timeout = UInt32(t)
                } else {
                    service.timeout = IPVSAdmParser.defaultPersistentTimeout
                }
            case UInt8(ascii: "M"):
                guard once(.netmask), let text = cursor.next() else { return nil }
                if service.family != .inet6 {
                    guard let mask = dottedQuad(text) else { return nil }
                    service.netmask = mask
                } else {
                    guard text.count <= 3, let prefix = decimal(text, max: 128), prefix >= 1 else { return nil }
                    service.netmask = UInt32(prefix)
                }
            case UInt8(ascii: "r"):
                guard once(.realServer), let text = cursor.next() else { return nil }
                guard let parsed = addressPort(text) else { return nil }
                server.address = parsed.address
                server.family = parsed.address.family
                server.port = parsed.port ?? service.port
            case UInt8(ascii: "m"), UInt8(ascii: "g"), UInt8(ascii: "i"):
                guard once(.forwarding) else { return nil }
                server.forwarding =
                    letter == UInt8(ascii: "m") ? .masquerade : letter == UInt8(ascii: "g") ? .route : .tunnel
            case UInt8(ascii: "w"):
                guard once(.weight), let text = cursor.next(), let w = decimal(text, max: UInt64(Int32.max)) else {
                    return nil
                }
                server.weight = Int32(w)
            case UInt8(ascii: "x"):
                guard once(.upperThreshold), let text = cursor.next(), let x = decimal(text, max: UInt64(Int32.max))
                else { return nil }
                server.upperThreshold = UInt32(x)
            case UInt8(ascii: "y"):
                guard once(.lowerThreshold), let text = cursor.next(), let y = decimal(text, max: UInt64(Int32.max))
                else { return nil }
                server.lowerThreshold = UInt32(y)
            case UInt8(ascii: "6"):
                guard service.firewallMark != 0 else { return nil }
                service.family = .inet6
                service.netmask = 128
            case UInt8(ascii: "o"):
                guard once(.onePacket) else { return nil }
                service.flags.insert(.onePacket)
            default:
                return nil
            }
        }

        // The checks after the options, in IPVSAdmParser's order; any that fails is the full parser's to report.
        let rules = OptionMasks.table[command.rawValue]
        guard options & rules.illegal == 0, options & rules.required == rules.required,
            (options & rules.exclusive).nonzeroBitCount <= 1
        else { return nil }
        switch command {
        case .addService, .editService:
            if service.firewallMark == 0 && service.port == 0 && !service.flags.contains(.persistent) { return nil }
            if service.flags.contains(.onePacket) && service.firewallMark == 0
                && service.ipProtocol != UInt16(IPPROTO_UDP)
            {
                return nil
            }
            if service.schedulerName.isEmpty { service.schedulerName = "wlc" }
        case .addServer, .editServer:
            if service.firewallMark == 0 && (server.forwarding == .tunnel || server.forwarding == .route) {
                server.port = service.port
            }
            if server.family != service.family && server.forwarding != .tunnel { return nil }
        default:
            break
        }
        var optionSet = IPVSAdmOptionSet()
        optionSet.bits = options
        return IPVSAdmInvocation(
            command: command, options: optionSet, format: [], service: service, server: server, timeouts: (0, 0, 0),
            daemon: IPVSAdmDaemonArgument())
    }

    static let dash = UInt8(ascii: "-")

    /// The words of a line as ipvsadm's `config_stream_read` splits them (spaces, tabs, carriage returns), every
    /// `ipvsadm` dropped.
    struct WordCursor {
        let line: UnsafeBufferPointer<UInt8>
        var position = 0

        init(_ line: UnsafeBufferPointer<UInt8>) { self.line = line }

        mutating func next() -> Slice<UnsafeBufferPointer<UInt8>>? {
            while true {
                while position < line.count && isBlank(line[position]) { position += 1 }
                guard position < line.count else { return nil }
                let start = position
                while position < line.count && !isBlank(line[position]) { position += 1 }
                let word = line[start..<position]
                if !isProgramName(word) { return word }
            }
        }

        func peek() -> Slice<UnsafeBufferPointer<UInt8>>? {
            var copy = self
            return copy.next()
        }

        static func isBlank(_ c: UInt8) -> Bool {
            c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r")
        }
        func isBlank(_ c: UInt8) -> Bool { Self.isBlank(c) }

        func isProgramName(_ word: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
            guard word.count == 7 else { return false }
            var i = word.startIndex
            for c in "ipvsadm".utf8 {
                if line[i] != c { return false }
                i += 1
            }
            return true
        }
    }

    /// Decimal digits only (what `strtol(…, 10)` reads whole), at most `max`; nil for anything else, signs and
    /// blanks included (strtol takes those too: the full parser reads them).
    static func decimal(_ text: Slice<UnsafeBufferPointer<UInt8>>, max: UInt64) -> UInt64? {
        guard !text.isEmpty, text.count <= 12 else { return nil }
        var value: UInt64 = 0
        for c in text {
            let digit = c &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + UInt64(digit)
        }
        return value <= max ? value : nil
    }

    /// `a.b.c.d`, each part decimal 0…255 without a leading zero: the forms inet_aton reads as plain decimal.
    /// Host byte order.
    static func dottedQuad(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var parts = 0
        for c in text {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                part = 0
                digits = 0
                continue
            }
            let digit = c &- UInt8(ascii: "0")
            // A digit after a leading 0: octal to inet_aton.
            guard digit < 10, !(digits == 1 && part == 0) else { return nil }
            part = part * 10 + UInt32(digit)
            digits += 1
            guard part <= 255 else { return nil }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    /// ipvsadm `parse_service` for the numeric forms: `a.b.c.d`, `a.b.c.d:port`, `[v6]:port`, a bare IPv6
    /// address. nil for anything else (names, odd inet_aton forms, service names as ports, refusals).
    static func addressPort(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> AddressPort? {
        guard let head = text.first, head != dash else { return nil }
        if head == UInt8(ascii: "[") {
            var close = text.startIndex + 1
            while close < text.endIndex && text[close] != UInt8(ascii: "]") { close += 1 }
            guard close + 1 < text.endIndex, text[close + 1] == UInt8(ascii: ":"),
                let v6 = inet6(text[(text.startIndex + 1)..<close]), let port = decimal(text[(close + 2)...], max: 65535)
            else { return nil }
            return AddressPort(address: .v6(v6), port: UInt16(port))
        }
        var colons = 0
        var lastColon = text.endIndex
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == UInt8(ascii: ":") {
                colons += 1
                lastColon = i
            }
            i += 1
        }
        if colons >= 2 {
            // An IPv6 address has at least two colons; with one or none, inet_pton(AF_INET6) refuses the text.
            guard let v6 = inet6(text) else { return nil }
            return AddressPort(address: .v6(v6), port: nil)
        }
        guard let v4 = dottedQuad(text[..<lastColon]) else { return nil }
        guard colons == 1 else { return AddressPort(address: .v4(IPv4Address(v4)), port: nil) }
        guard let port = decimal(text[(lastColon + 1)...], max: 65535) else { return nil }
        return AddressPort(address: .v4(IPv4Address(v4)), port: UInt16(port))
    }

    struct AddressPort {
        var address: IPAddress
        var port: UInt16?
    }

    /// inet_pton(AF_INET6) on the bytes, through a NUL-terminated copy on the stack.
    static func inet6(_ text: Slice<UnsafeBufferPointer<UInt8>>) -> IPv6Address? {
        guard text.count < 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer -> IPv6Address? in
            var n = 0
            for c in text {
                buffer[n] = CChar(bitPattern: c)
                n += 1
            }
            buffer[n] = 0
            var address = in6_addr()
            guard inet_pton(AF_INET6, buffer.baseAddress!, &address) > 0 else { return nil }
            return withUnsafeBytes(of: &address) { raw in
                IPv6Address(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
        }
    }
}

/// ``CommandOptionMatrix``'s rows as bit masks over ``IPVSAdmOptionSet/bits``, for the fast path.
enum OptionMasks {
    struct Row {
        var illegal: UInt64 = 0
        var required: UInt64 = 0
        var exclusive: UInt64 = 0
    }

    static let table: [Row] = IPVSAdmCommand.allCases.map { command in
        var row = Row()
        for option in IPVSAdmOption.allCases {
            let bit: UInt64 = 1 << UInt64(option.rawValue)
            switch CommandOptionMatrix.rule(command, option) {
            case .illegal: row.illegal |= bit
            case .required: row.required |= bit
            case .exclusive: row.exclusive |= bit
            case .optional: break
            }
        }
        return row
    }
}
