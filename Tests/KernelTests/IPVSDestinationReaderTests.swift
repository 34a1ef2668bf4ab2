import IPVSCore
import IPVSNetlink
import Testing

/// The two-socket destination reader (`ipvsctl -L`, KernelMirror) against the kernel: its entries are libnl's for
/// every service, and after the first reply on each socket, every reply is read from the remembered layout
/// (``IPVSDestinationDecoder``): the kernel writes all destination replies alike, IPv4 and IPv6.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSDestinationReaderTests {
    @Test func everyReplyAfterTheFirstIsReadFromTheLayoutAndDecodesAsWithLibnl() throws {
        let namespace = try NetworkNamespace("dest-reader")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        var requests: [IPVSRequest] = []
        var services: [VirtualService] = []
        for i in 0..<120 {
            let v6 = i % 2 == 1
            let address: IPAddress = v6 ? IPAddress("2001:db8:9::\(i + 1)")! : .v4(IPv4Address(10, 9, 0, UInt8(i + 1)))
            let service = VirtualService(.address(.tcp, address, port: 80), scheduler: .wrr)
            services.append(service)
            requests.append(.newService(service))
            for d in 0..<(i % 5) {
                let server: IPAddress =
                    v6 ? IPAddress("2001:db8:a::\(i + 1):\(d + 1)")! : .v4(IPv4Address(172, 21, UInt8(i), UInt8(d + 1)))
                let forwarding: ForwardingMethod = d % 2 == 0 ? .masquerade : .route
                requests.append(
                    .newDestination(
                        RealServer(server, port: 8080, forwarding: forwarding, weight: Int32(d)), in: service))
            }
        }
        let result = handle.perform(batch: requests)
        #expect(result.allApplied, "\(result.failures.prefix(3))")
        for readsStatistics in [true, false] {
            let reader = try IPVSDestinationReader(
                networkNamespace: namespace.path, familyID: handle.familyID, readsStatistics: readsStatistics)
            let (dumped, error) = reader.destinations(of: services)
            #expect(error == nil)
            #expect(dumped.count == services.count)
            var replies = 0
            for (service, entries) in zip(services, dumped) {
                var expected = try handle.destinations(of: service)
                if !readsStatistics {
                    for i in expected.indices { expected[i].statistics = IPVSStatistics() }
                }
                #expect(entries == expected, "\(service)")
                replies += expected.count
            }
            let (reused, walked) = reader.decodedReplies
            #expect(reused + walked == replies)
            // One full walk per socket at most; everything else from the layout.
            #expect(walked <= 2 && reused >= replies - 2, "reused \(reused), walked \(walked) of \(replies)")
        }
    }

    /// The two parts work from the two ends of the list and meet: every service once, part 0 from the front in
    /// order, part 1 from the back in reverse order. A service that is not there comes back with no destinations,
    /// as with libnl (ip_vs_ctl.c `ip_vs_genl_dump_dests` ends the dump of a service it cannot find, no error).
    @Test func bothEndsMeetAndEveryServiceIsVisitedOnce() throws {
        let namespace = try NetworkNamespace("dest-reader")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        var services = (0..<200).map { (i: Int) -> VirtualService in
            VirtualService(
                .address(.tcp, .v4(IPv4Address(10, 11, UInt8(i / 250), UInt8(i % 250 + 1))), port: 80), scheduler: .rr)
        }
        var requests = services.map { IPVSRequest.newService($0) }
        for s in services {
            requests.append(
                .newDestination(RealServer(.v4(IPv4Address(172, 22, 0, 1)), port: 80, forwarding: .masquerade), in: s))
        }
        #expect(handle.perform(batch: requests).allApplied)
        let missing = [3, 150]
        for k in missing {
            services[k] = VirtualService(
                .address(.tcp, .v4(IPv4Address(10, 99, 0, UInt8(k))), port: 80), scheduler: .rr)
        }
        #expect(try handle.destinations(of: services[3]).isEmpty)
        final class Seen: @unchecked Sendable { var parts: [[(Int, Int)]] = [[], []] }

        let reader = try IPVSDestinationReader(networkNamespace: namespace.path, familyID: handle.familyID)
        let seen = Seen()
        let (failedAt, error) = reader.visitDestinations(of: services) { part, index, destinations in
            seen.parts[part].append((index, destinations.count))
        }
        #expect(failedAt == nil && error == nil)
        let (front, back) = (seen.parts[0].map(\.0), seen.parts[1].map(\.0))
        #expect(!front.isEmpty && !back.isEmpty, "\(front.count) + \(back.count)")
        #expect(front == Array(0..<front.count))
        #expect(back == Array((front.count..<services.count).reversed()))
        for (index, count) in seen.parts[0] + seen.parts[1] {
            #expect(count == (missing.contains(index) ? 0 : 1), "service \(index)")
        }
    }
}
