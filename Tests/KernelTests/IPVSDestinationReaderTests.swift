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
                let server: IPAddress = v6 ? IPAddress("2001:db8:a::\(i + 1):\(d + 1)")! : .v4(IPv4Address(172, 21, UInt8(i), UInt8(d + 1)))
                let forwarding: ForwardingMethod = d % 2 == 0 ? .masquerade : .route
                requests.append(.newDestination(RealServer(server, port: 8080, forwarding: forwarding, weight: Int32(d)), in: service))
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
}
