import Glibc
import IPVSAdmin
import IPVSCore
import IPVSNetlink

/// `--json`: the same command line as without it, read by ipvsadm's parser with its messages and statuses, then the
/// listing written as a JSON document (IPVSAdmJSON) instead of ipvsadm's text. Failures print ipvsadm's message and
/// status, as the text listings do.
extension Session {
    mutating func processJSON(_ arguments: [String]) -> Int32 {
        // No arguments means -L, as without --json.
        if arguments.count == 1 { return listAllJSON(noSort: false) }
        let (parsed, status) = parse(arguments, readingRestore: false)
        guard let invocation = parsed else { return status }
        if let message = IPVSCtlExtensions.jsonViolation(invocation) {
            output.error(message + "\n")
            return 2
        }
        let noSort = invocation.format.contains(.noSort)
        let options = invocation.options
        if invocation.command == .save {
            output.out(IPVSAdmJSON.rules(info: info, services: tableJSON(), noSort: noSort))
            return 0
        }
        if options.contains(.connection) {
            let entries: [IPVSConnectionEntry]
            do throws(IPVSConnectionListError) { entries = try IPVSConnectionList.read() } catch {
                fail("ipvsctl: \(error)")
            }
            output.out(IPVSAdmJSON.connections(info: info, entries))
            return 0
        }
        if options.contains(.service) {
            let entry: IPVSServiceEntry
            do throws(IPVSError) { entry = try handle.service(Self.service(invocation.service)) } catch {
                fail(IPVSAdmErrorText.message(.getService, error))
            }
            let destinations: [IPVSDestinationEntry]
            do throws(IPVSError) { destinations = try handle.destinations(of: entry.service) } catch {
                fail(IPVSAdmErrorText.message(.getDestinations, error))
            }
            output.out(IPVSAdmJSON.service(info: info, IPVSAdmServiceListing(entry, destinations), noSort: noSort))
            return 0
        }
        if options.contains(.timeout) {
            guard let t = try? handle.timeouts() else { end(1) }
            output.out(IPVSAdmJSON.timeouts(info: info, t))
            return 0
        }
        if options.contains(.daemon) {
            guard let daemons = try? handle.daemons() else { end(1) }
            output.out(IPVSAdmJSON.daemons(info: info, daemons))
            return 0
        }
        return listAllJSON(noSort: noSort)
    }

    mutating func listAllJSON(noSort: Bool) -> Int32 {
        output.out(IPVSAdmJSON.services(info: info, services: tableJSON(), noSort: noSort))
        return 0
    }

    /// Every service and its destinations, in the kernel's order (the document sorts). A failed dump ends the
    /// process with ipvsadm's message and status 1, as `list_all` does.
    mutating func tableJSON() -> [IPVSAdmServiceListing] {
        let entries: [IPVSServiceEntry]
        do throws(IPVSError) { entries = try handle.services() } catch {
            fail(IPVSAdmErrorText.message(.getServices, error))
        }
        // The destination dumps overlapped as -L overlaps them (IPVSDestinationReader).
        let reader: IPVSDestinationReader
        do throws(IPVSError) { reader = try IPVSDestinationReader(familyID: handle.familyID) } catch {
            fail(IPVSAdmErrorText.message(.getDestinations, error))
        }
        let (destinations, error) = reader.destinations(of: entries.map(\.service))
        if let error { fail(IPVSAdmErrorText.message(.getDestinations, error)) }
        var services: [IPVSAdmServiceListing] = []
        services.reserveCapacity(entries.count)
        for (entry, dumped) in zip(entries, destinations) { services.append(IPVSAdmServiceListing(entry, dumped)) }
        return services
    }
}
