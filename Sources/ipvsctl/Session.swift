import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

/// One connection to IPVS and the commands run over it: ipvsadm's `process_options` after parsing, and its
/// listing functions. Statuses are ipvsadm's: 0, 1 when a listing fails, 2 for a refused command line, 255 (its
/// -1) when the kernel refuses a change.
struct Session: ~Copyable {
    var handle: IPVSHandle
    let info: IPVSInfo
    let output: Output
    let resolver = SystemNameResolver()

    init(handle: consuming IPVSHandle, info: IPVSInfo, output: Output) {
        self.handle = handle
        self.info = info
        self.output = output
    }

    /// ipvsadm `process_options`.
    mutating func process(_ arguments: [String], readingRestore: Bool) -> Int32 {
        let (invocation, status) = parse(arguments, readingRestore: readingRestore)
        guard let invocation else { return status }
        return execute(invocation, program: arguments[0], readingRestore: readingRestore)
    }

    /// ipvsadm's reading of a command line. A line it refuses gets what ipvsadm prints for it (usage on stdout,
    /// the message on stderr) and its status, and ends the process where ipvsadm's `fail` would: then the invocation
    /// is nil.
    func parse(_ arguments: [String], readingRestore: Bool) -> (invocation: IPVSAdmInvocation?, status: Int32) {
        do throws(IPVSAdmExit) {
            let invocation = try IPVSAdmParser.parse(
                arguments, readingRestore: readingRestore, posixlyCorrect: Self.posixlyCorrect)
            return (invocation, 0)
        } catch {
            output.out(error.standardOutput)
            if !error.standardError.isEmpty {
                output.flushIfTerminal()
                output.error(error.standardError)
            }
            if error.endsProcess { end(error.status) }
            return (nil, error.status)
        }
    }

    /// popt's POSIX mode: the first word that is not an option ends the options.
    static var posixlyCorrect: Bool { getenv("POSIXLY_CORRECT") != nil || getenv("POSIX_ME_HARDER") != nil }

    /// Flushes stdout and ends the process, as ipvsadm's `exit` does.
    func end(_ status: Int32) -> Never {
        output.flush()
        exit(status)
    }

    mutating func execute(_ invocation: IPVSAdmInvocation, program: String, readingRestore: Bool) -> Int32 {
        let format = invocation.format
        let options = invocation.options
        switch invocation.command {
        case .list:
            if options.contains(.connection) { return listConnections(format: format) }
            if options.contains(.service) { return listService(invocation.service, format: format) }
            if options.contains(.timeout) {
                guard let t = try? handle.timeouts() else { end(1) }
                output.out(IPVSAdmListing.timeouts(t))
                return 0
            }
            if options.contains(.daemon) {
                guard let daemons = try? handle.daemons() else { end(1) }
                output.out(IPVSAdmListing.daemons(daemons))
                return 0
            }
            return listAll(format: format)
        case .save:
            return listAll(format: format)
        case .restore:
            return restore(program: program)
        case .flush:
            return change(.flush) { (h: inout IPVSHandle) throws(IPVSError) in try h.flush() }
        case .addService:
            let request = Self.request(.newService(Self.service(invocation.service)), invocation.service)
            return change(.addService) { (h: inout IPVSHandle) throws(IPVSError) in
                _ = try h.perform(request, .addService)
            }
        case .editService:
            let request = Self.request(.setService(Self.service(invocation.service)), invocation.service)
            return change(.editService) { (h: inout IPVSHandle) throws(IPVSError) in
                _ = try h.perform(request, .editService)
            }
        case .deleteService:
            let service = Self.service(invocation.service)
            return change(.deleteService) { (h: inout IPVSHandle) throws(IPVSError) in try h.deleteService(service) }
        case .addServer:
            let service = Self.service(invocation.service), server = Self.server(invocation.server)
            return change(.addDestination) { (h: inout IPVSHandle) throws(IPVSError) in
                try h.addDestination(server, to: service)
            }
        case .editServer:
            let service = Self.service(invocation.service), server = Self.server(invocation.server)
            return change(.editDestination) { (h: inout IPVSHandle) throws(IPVSError) in
                try h.editDestination(server, in: service)
            }
        case .deleteServer:
            let service = Self.service(invocation.service), server = Self.server(invocation.server)
            return change(.deleteDestination) { (h: inout IPVSHandle) throws(IPVSError) in
                try h.deleteDestination(server, from: service)
            }
        case .setTimeouts:
            let t = invocation.timeouts
            return change(.setTimeouts) { (h: inout IPVSHandle) throws(IPVSError) in
                try h.setTimeouts(IPVSTimeouts(tcp: t.tcp, tcpFin: t.tcpFin, udp: t.udp))
            }
        case .zero:
            // libipvs `ipvs_zero_service`: a service only when one is named (mark, address or port not zero).
            let a = invocation.service
            let named = a.firewallMark != 0 || a.port != 0 || (a.address.map { !Self.isZero($0) } ?? false)
            let service = Self.service(a)
            return change(.zeroService) { (h: inout IPVSHandle) throws(IPVSError) in
                if named { try h.zero(service) } else { try h.zeroAll() }
            }
        case .startDaemon:
            let d = invocation.daemon
            let daemon = IPVSSyncDaemon(
                d.state == .backup ? .backup : .master, interface: d.multicastInterface, syncID: UInt8(d.syncID),
                maximumMessageLength: d.syncMaxLength == 0 ? nil : d.syncMaxLength, multicastGroup: d.multicastGroup,
                multicastPort: d.multicastPort == 0 ? nil : d.multicastPort,
                multicastTTL: d.multicastTTL == 0 ? nil : d.multicastTTL)
            return change(.startDaemon) { (h: inout IPVSHandle) throws(IPVSError) in try h.startDaemon(daemon) }
        case .stopDaemon:
            let role: IPVSSyncDaemon.Role = invocation.daemon.state == .backup ? .backup : .master
            return change(.stopDaemon) { (h: inout IPVSHandle) throws(IPVSError) in try h.stopDaemon(role) }
        }
    }

    /// Runs one change; on failure prints ipvsadm's message for it and returns its -1.
    mutating func change(
        _ function: IPVSAdmErrorText.Function, _ body: (inout IPVSHandle) throws(IPVSError) -> Void
    ) -> Int32 {
        do throws(IPVSError) {
            try body(&handle)
            return 0
        } catch {
            output.flushIfTerminal()
            output.error(IPVSAdmErrorText.message(function, error) + "\n")
            return 255
        }
    }

    /// ipvsadm `list_all`.
    ///
    /// ipvsadm dumps each service's destinations as it prints it. Here the dumps are overlapped on two sockets and
    /// two threads (``IPVSDestinationReader/visitDestinations(of:_:)``), one working from the front of the sorted
    /// services and one from the back, and each formats the services it dumped straight into its own byte buffer:
    /// the front part goes to stdout as it is formatted, the back part after it, in order. The output is the same
    /// bytes in the same order.
    mutating func listAll(format: IPVSAdmFormat) -> Int32 {
        let listing = IPVSAdmListing(format: format, resolver: resolver)
        if !format.contains(.rule) { output.out(IPVSAdmListing.versionLine(info)) }
        // Only --stats and --rate print counters; the others leave them unread (their nests are still checked).
        let readsStatistics = !format.isDisjoint(with: [.stats, .rate])
        let entries: [IPVSServiceEntry]
        do throws(IPVSError) { entries = try handle.services(readsStatistics: readsStatistics) } catch {
            fail(IPVSAdmErrorText.message(.getServices, error))
        }
        output.out(listing.title())
        let services = entries.map(\.service)
        let order = format.contains(.noSort) ? Array(entries.indices) : IPVSAdmSortOrder.serviceOrder(services)
        let reader: IPVSDestinationReader
        do throws(IPVSError) {
            reader = try IPVSDestinationReader(familyID: handle.familyID, readsStatistics: readsStatistics)
        } catch {
            fail(IPVSAdmErrorText.message(.getDestinations, error))
        }
        output.flush()
        // Part 0 takes the sorted services from the front and writes to stdout whenever it holds 256 KiB (nothing
        // printed after it can come before it); part 1 takes them from the back and keeps its text, each
        // service's place noted, until part 0 is done.
        let parts = [ListingPart(capacity: 1 << 19), ListingPart(capacity: max(1 << 16, entries.count * 400))]
        let (_, error) = reader.visitDestinations(of: order.map { services[$0] }) { part, index, destinations in
            let text = parts[part]
            let start = text.buffer.count
            listing.write(IPVSAdmServiceListing(entries[order[index]], destinations), into: &text.buffer)
            if part == 1 {
                text.places.append(start..<text.buffer.count)
            } else if text.buffer.count >= 1 << 18 {
                text.writeOut()
            }
        }
        parts[0].writeOut()
        if let error {
            // Part 0 has printed every service before the one that failed.
            fail(IPVSAdmErrorText.message(.getDestinations, error))
        }
        // Part 1's services, taken from the back, in order.
        let tail = parts[1]
        var out = IPVSAdmTextBuffer(capacity: 1 << 18)
        tail.buffer.withUnsafeBytes { text in
            for place in tail.places.reversed() {
                out.append(UnsafeRawBufferPointer(rebasing: text[place]))
                if out.count >= 1 << 18 {
                    out.withUnsafeBytes { Output.writeAll(1, $0) }
                    out.removeAll()
                }
            }
        }
        out.withUnsafeBytes { Output.writeAll(1, $0) }
        return 0
    }

    /// ipvsadm `list_service`.
    mutating func listService(_ argument: IPVSAdmServiceArgument, format: IPVSAdmFormat) -> Int32 {
        let listing = IPVSAdmListing(format: format, resolver: resolver)
        let entry: IPVSServiceEntry
        do throws(IPVSError) { entry = try handle.service(Self.service(argument)) } catch {
            fail(IPVSAdmErrorText.message(.getService, error))
        }
        output.out(listing.title())
        let destinations: [IPVSDestinationEntry]
        do throws(IPVSError) { destinations = try handle.destinations(of: entry.service) } catch {
            fail(IPVSAdmErrorText.message(.getDestinations, error))
        }
        output.out(listing.service(IPVSAdmServiceListing(entry, destinations)))
        return 0
    }

    /// ipvsadm `list_conn`.
    func listConnections(format: IPVSAdmFormat) -> Int32 {
        let path = "/proc/net/ip_vs_conn"
        guard let file = fopen(path, "r") else {
            output.error("cannot open file \(path)\n")
            end(1)
        }
        defer { fclose(file) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            text.append(contentsOf: chunk[..<n])
        }
        if !text.contains(UInt8(ascii: "\n")) && text.isEmpty {
            output.error("unexpected input from \(path)\n")
            end(1)
        }
        let listing = IPVSAdmConnectionListing(format: format, resolver: resolver)
        output.out(listing.listing(procText: String(decoding: text, as: UTF8.self)))
        return 0
    }

    /// Prints ipvsadm's message for a failed listing and ends with status 1.
    func fail(_ message: String) -> Never {
        output.flushIfTerminal()
        output.error(message + "\n")
        end(1)
    }

    // MARK: - From ipvsadm's arguments to the kernel's entries

    static func service(_ a: IPVSAdmServiceArgument) -> VirtualService { IPVSAdmRequests.service(a) }

    static func request(_ base: IPVSRequest, _ a: IPVSAdmServiceArgument) -> IPVSRequest {
        IPVSAdmRequests.request(base, a)
    }

    static func isZero(_ a: IPAddress) -> Bool { IPVSAdmRequests.isZero(a) }

    static func server(_ a: IPVSAdmServerArgument) -> RealServer { IPVSAdmRequests.server(a) }
}

/// One thread's share of a listing: the text it formatted and not yet written (and, for the part that works from
/// the back, where each service's text lies, in the order it was formatted).
final class ListingPart {
    var buffer: IPVSAdmTextBuffer
    var places: [Range<Int>] = []

    init(capacity: Int) { buffer = IPVSAdmTextBuffer(capacity: capacity) }

    /// Writes the text to stdout and empties the buffer.
    func writeOut() {
        buffer.withUnsafeBytes { Output.writeAll(1, $0) }
        buffer.removeAll()
    }
}

extension Output {
    /// C's stdout is line-buffered on a terminal: what was printed before an error shows before it there.
    func flushIfTerminal() {
        if isatty(1) != 0 { flush() }
    }
}
