import Glibc
import IPVSCore
import Synchronization
import Testing

@testable import IPVSNetlink

/// The client's answers to a hostile or overloaded socket, against the real kernel: answers lost to a full receive
/// buffer (ENOBUFS), a late answer with an old sequence number, messages another socket writes to ours, and
/// signals while a receive waits (EINTR). Each test forces its path and checks that it was taken.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientRobustnessTests {
    static func udp(_ i: Int) -> VirtualService {
        VirtualService(.address(.udp, .v4(IPv4Address(10, 3, UInt8(i >> 8), UInt8(i & 0xff))), port: 53))
    }

    /// A receive buffer of 8 KiB and an acknowledgement asked on every message: the kernel drops most answers and
    /// reports ENOBUFS. The batch must not wait for the lost answers (it would end in the timeout and stop), must
    /// attribute every error that did come to its request, mark the rest unconfirmed, go on with the next send, and
    /// leave the handle usable with the usual settings.
    @Test func answersLostToAFullReceiveBufferAreUnconfirmedAndTheBatchGoesOn() throws {
        let namespace = try NetworkNamespace("enobufs")
        var handle = try IPVSHandle(networkNamespace: namespace.path, timeout: .seconds(60))
        handle.batchOptions = IPVSBatchOptions(acknowledgeEveryRequest: true, receiveBuffer: 4096, messagesPerSend: 1500)
        let count = 3000
        var requests = (0..<count).map { IPVSRequest.newService(Self.udp($0)) }
        let duplicates = Set(stride(from: 250, to: count, by: 250))
        for i in duplicates { requests[i] = requests[i - 1] }  // EEXIST

        let result = handle.perform(batch: requests)
        // The path was taken: answers were lost.
        #expect(!result.unconfirmed.isEmpty)
        #expect(result.unconfirmed.allSatisfy { if case .repliesLost = $0.error.reason { true } else { false } })
        // It went on: every request sent, in more than one send.
        #expect(result.notSent == nil)
        #expect(result.sends >= 2)
        // Errors that came are the real ones, on the right requests; no duplicate is reported applied.
        #expect(Set(result.failures.map(\.index)).isSubset(of: duplicates))
        #expect(result.failures.allSatisfy { $0.error == IPVSError(.addService, .kernel(errno: EEXIST)) })
        for i in duplicates {
            switch result.outcome(of: i) {
            case .failed, .unconfirmed: break
            default: Issue.record("duplicate \(i): \(result.outcome(of: i))")
            }
        }
        // The kernel processed every message: all distinct services are there.
        #expect(try handle.servicesConsistently().count == count - duplicates.count)

        // With the usual settings the same handle attributes every answer again.
        handle.batchOptions = IPVSBatchOptions()
        let again = handle.perform(batch: [
            .newService(Self.udp(0)), .deleteService(Self.udp(1)), .deleteService(Self.udp(count + 1)),
        ])
        #expect(again.unconfirmed.isEmpty && again.notSent == nil)
        #expect(again.failures.map(\.index) == [0, 2])
        #expect(again.failures.map(\.error.errno) == [EEXIST, ESRCH])
        try handle.deleteService(Self.udp(2))
        #expect(try handle.servicesConsistently().count == count - duplicates.count - 2)
    }

    /// Destination dumps receive with `NLMSG_GOODSIZE`, not a whole page (the kernel's steps then take a page-sized
    /// allocation instead of 8 KiB). On this kernel every step must fit: one request per service, small or spanning
    /// several steps. A receive shorter than the kernel's steps truncates one: the socket must notice (MSG_TRUNC),
    /// drain that dump, receive whole pages from then on, and dump the service again — the same entries, no error.
    @Test func destinationDumpsReceiveOneGoodSizeAndRecoverFromATruncatedStep() throws {
        let namespace = try NetworkNamespace("goodsize")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let small = Self.udp(1), large = Self.udp(2)
        for (service, count) in [(small, 10), (large, 40)] {
            try handle.addService(service)
            for d in 0..<count {
                try handle.addDestination(
                    RealServer(.v4(IPv4Address(172, 20, UInt8(count), UInt8(d + 1))), port: 53, forwarding: .masquerade,
                        weight: 1),
                    to: service)
            }
        }
        let expected = [try handle.destinations(of: small), try handle.destinations(of: large)]
        #expect(expected.map(\.count) == [10, 40])

        var socket = try DestinationDumpSocket(
            networkNamespace: namespace.path, familyID: handle.familyID, timeout: .seconds(10))
        #expect(try socket.destinations(of: small) == expected[0])
        #expect(try socket.destinations(of: large) == expected[1])
        #expect(socket.readRequestsSent == 2, "a step of this kernel did not fit NLMSG_GOODSIZE")
        #expect(socket.receiveLength == DestinationDumpSocket.goodSize)

        var short = try DestinationDumpSocket(
            networkNamespace: namespace.path, familyID: handle.familyID, timeout: .seconds(10))
        short.receiveLength = 512
        #expect(try short.destinations(of: small) == expected[0])
        #expect(short.readRequestsSent == 2)
        #expect(short.receiveLength == DestinationDumpSocket.stepSize)
        #expect(try short.destinations(of: large) == expected[1])
        #expect(short.readRequestsSent == 3)
    }

    /// The kernel's answer to a request sent earlier (as after a timeout) is still queued when the next request
    /// goes out: its sequence number is an old one, and neither a single request nor a batch may take it for theirs.
    @Test func aLateAnswerWithAnOldSequenceNumberIsSkipped() throws {
        let namespace = try NetworkNamespace("stale")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        // Two requests the kernel refuses (ESRCH), their answers left unread.
        for _ in 0..<2 { _ = try handle.send(.deleteService(Self.udp(7)), .deleteService) }
        // A single request: must succeed, not report the queued ESRCH.
        try handle.addService(Self.udp(1))
        // Again, and then a batch.
        _ = try handle.send(.deleteService(Self.udp(7)), .deleteService)
        let result = handle.perform(batch: [.newService(Self.udp(2)), .newService(Self.udp(3))])
        #expect(result.allApplied, "\(result.failures)")
        #expect(Set(try handle.servicesConsistently().map(\.service.key)) == Set([1, 2, 3].map { Self.udp($0).key }))
    }

    /// Another socket of the namespace (root may send to any port) writes forged answers to our port, with our port
    /// id and the sequence numbers our next requests will carry: an error for the first and an acknowledgement for
    /// the last, queued before the kernel's real answers. Only the kernel's answers count.
    @Test func messagesFromAnotherSocketAreNotTakenForAnswers() throws {
        let namespace = try NetworkNamespace("forged")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        var injector: Int32 = -1
        try IPVSHandle.inNamespace(namespace.path) { () throws(IPVSError) in
            injector = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 16)  // NETLINK_GENERIC
        }
        try #require(injector >= 0)
        defer { close(injector) }
        func forge(sequence: UInt32, error: Int32) {
            // nlmsghdr, then struct nlmsgerr: the error and the request's header (as NETLINK_CAP_ACK sends it).
            var message = [UInt8](repeating: 0, count: 36)
            message.withUnsafeMutableBytes {
                $0.storeBytes(of: UInt32(36), toByteOffset: 0, as: UInt32.self)
                $0.storeBytes(of: UInt16(2), toByteOffset: 4, as: UInt16.self)  // NLMSG_ERROR
                $0.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
                $0.storeBytes(of: handle.portID, toByteOffset: 12, as: UInt32.self)
                $0.storeBytes(of: error, toByteOffset: 16, as: Int32.self)
            }
            // struct sockaddr_nl: family, pad, port id, groups.
            var to = [UInt8](repeating: 0, count: 12)
            to.withUnsafeMutableBytes {
                $0.storeBytes(of: UInt16(AF_NETLINK), toByteOffset: 0, as: UInt16.self)
                $0.storeBytes(of: handle.portID, toByteOffset: 4, as: UInt32.self)
            }
            let sent = to.withUnsafeBytes {
                sendto(
                    injector, message, message.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                    socklen_t(12))
            }
            #expect(sent == 36, "forged answer not delivered: errno \(errno)")
        }
        try handle.addService(Self.udp(1))

        // A single request: a forged EPERM for it, then the kernel's real ack.
        forge(sequence: handle.sequence &+ 1, error: -EPERM)
        try handle.addService(Self.udp(2))

        // A batch of three whose second is refused (EEXIST): a forged EPERM for the first, a forged ack for the last.
        let first = handle.sequence &+ 1
        forge(sequence: first, error: -EPERM)
        forge(sequence: first &+ 2, error: 0)
        let result = handle.perform(batch: [
            .newService(Self.udp(3)), .newService(Self.udp(1)), .newService(Self.udp(4)),
        ])
        #expect(result.failures.map(\.index) == [1])
        #expect(result.failures.map(\.error) == [IPVSError(.addService, .kernel(errno: EEXIST))])
        #expect(result.unconfirmed.isEmpty && result.notSent == nil)
        // Nothing of the batch's answers was left behind for the next request to stumble on.
        try handle.deleteService(Self.udp(4))
        #expect(Set(try handle.servicesConsistently().map(\.service.key)) == Set([1, 2, 3].map { Self.udp($0).key }))
    }

    /// Signals while a receive waits: with a receive timeout set, the kernel ends the wait with EINTR whatever
    /// SA_RESTART says (net/core/sock.c `sock_intr_errno`). The wait must go on and take the answer when it comes:
    /// here a second thread sends a burst of signals at the waiting thread, then the request whose answer it waits
    /// for.
    @Test func signalsDuringAReceiveDoNotEndIt() throws {
        let namespace = try NetworkNamespace("eintr")
        var handle = try IPVSHandle(networkNamespace: namespace.path, timeout: .seconds(30))
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in signalsHandled.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var previous = sigaction()
        #expect(sigaction(SIGUSR1, &action, &previous) == 0)
        defer { sigaction(SIGUSR1, &previous, nil) }
        let before = signalsHandled.load(ordering: .relaxed)

        let expected = handle.sequence &+ 1
        handle.sequence = expected  // the number the second thread's request carries
        let (descriptor, family, port) = (handle.descriptor, handle.familyID, handle.portID)
        let waiter = pthread_self()
        var outcome: Result<[NetlinkFrame], IPVSError>? = nil
        inParallel(
            {
                // Test runner threads may block signals: let SIGUSR1 through on this one while it waits.
                var unblock = sigset_t()
                var saved = sigset_t()
                sigemptyset(&unblock)
                sigaddset(&unblock, SIGUSR1)
                pthread_sigmask(SIG_UNBLOCK, &unblock, &saved)
                defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
                do throws(IPVSError) {
                    outcome = .success(try handle.receiveReplies(to: expected, .getInfo))
                } catch { outcome = .failure(error) }
            },
            {
                usleep(200_000)  // the waiter is in recv by now
                for _ in 0..<20 {
                    pthread_kill(waiter, SIGUSR1)
                    usleep(20_000)
                }
                let message = try! IPVSRequest.getInfo.encode(family: family, sequence: expected, portID: port)
                _ = message.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
            })
        #expect(signalsHandled.load(ordering: .relaxed) - before >= 20)
        let frames = try #require(try outcome?.get())
        let info = try IPVSReplyDecoder.info(try #require(frames.first).bytes)
        #expect(info.connectionTableSize > 0)
        // The handle goes on as usual.
        #expect(try handle.info() == info)
    }
}

/// Signals the EINTR test's handler received.
private let signalsHandled = Atomic<Int>(0)
