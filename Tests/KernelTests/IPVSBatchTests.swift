import Glibc
import IPVSCore
import IPVSNetlink
import Testing

/// Batches against the kernel: many requests per send, every error attributed to its request, the others applied.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct IPVSBatchTests {
    static let a = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .rr)
    static let b = VirtualService(.address(.tcp, IPAddress("10.0.0.2")!, port: 80), scheduler: .rr)
    static let missing = VirtualService(.address(.tcp, IPAddress("10.0.0.9")!, port: 80), scheduler: .rr)
    static func server(_ n: UInt8, weight: Int32 = 1) -> RealServer {
        RealServer(.v4(IPv4Address(10, 1, 0, n)), port: 8080, forwarding: .masquerade, weight: weight)
    }

    @Test func errorsAreAttributedToTheirRequestsAndTheRestIsApplied() throws {
        let namespace = try NetworkNamespace("batch")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let requests: [IPVSRequest] = [
            .newService(Self.a),  // 0
            .newDestination(Self.server(1), in: Self.a),  // 1
            .newService(Self.a),  // 2: EEXIST
            .newDestination(Self.server(2), in: Self.missing),  // 3: ESRCH
            .setDestination(Self.server(3), in: Self.a),  // 4: ENOENT
            .newService(Self.b),  // 5
            .newDestination(Self.server(4, weight: 7), in: Self.b),  // 6
            .deleteService(Self.missing),  // 7: ESRCH, the last message: its error ends the send
        ]
        let before = handle.mutatingMessagesSent
        let result = handle.perform(batch: requests)
        #expect(handle.mutatingMessagesSent - before == requests.count)
        #expect(result.sends == 1)
        #expect(result.failures.map(\.index) == [2, 3, 4, 7])
        #expect(
            result.failures.map(\.error) == [
                IPVSError(.addService, .kernel(errno: EEXIST)),
                IPVSError(.addDestination, .kernel(errno: ESRCH)),
                IPVSError(.editDestination, .kernel(errno: ENOENT)),
                IPVSError(.deleteService, .kernel(errno: ESRCH)),
            ])
        #expect(result.failures.map(\.request) == [requests[2], requests[3], requests[4], requests[7]])
        #expect("\(result.failures[0].error)" == "add service: Service already exists")
        #expect(result.appliedCount == 4)
        #expect([0, 1, 5, 6].allSatisfy { result.outcome(of: $0) == .applied })
        #expect(result.outcome(of: 3) == .failed(IPVSError(.addDestination, .kernel(errno: ESRCH))))
        #expect(!result.allApplied && result.unconfirmed.isEmpty && result.notSent == nil)

        // What the kernel has is exactly the applied part.
        #expect(Set(try handle.servicesConsistently().map(\.service)) == [Self.a, Self.b])
        #expect(try handle.destinations(of: Self.a).map(\.server) == [Self.server(1)])
        #expect(try handle.destinations(of: Self.b).map(\.server) == [Self.server(4, weight: 7)])
    }

    @Test func aBatchLargerThanOneSendIsSplitAndFailuresKeepTheirIndex() throws {
        let namespace = try NetworkNamespace("batch")
        var handle = try IPVSHandle(networkNamespace: namespace.path, timeout: .seconds(30))
        // 12 000 services: about 1.2 MB of messages, more than one 1 MiB send.
        var requests = (0..<12_000).map { i in
            IPVSRequest.newService(
                VirtualService(.address(.udp, .v4(IPv4Address(10, 2, UInt8(i >> 8), UInt8(i & 0xff))), port: 53)))
        }
        requests[11_000] = requests[10]  // EEXIST, in the second send
        requests[3] = .deleteService(Self.missing)  // ESRCH, in the first
        let result = handle.perform(batch: requests)
        #expect(result.sends >= 2)
        #expect(result.failures.map(\.index) == [3, 11_000])
        #expect(result.failures.map(\.error.errno) == [ESRCH, EEXIST])
        #expect(result.appliedCount == 11_998)
        #expect(try handle.servicesConsistently().count == 11_998)
    }

    @Test func anEmptyBatchSendsNothing() throws {
        let namespace = try NetworkNamespace("batch")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let result = handle.perform(batch: [])
        #expect(result.sends == 0 && result.allApplied && handle.mutatingMessagesSent == 0)
    }
}
