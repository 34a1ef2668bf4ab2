import IPVSCore
import IPVSNetlink
import Testing

/// Multi-part dumps far past one receive buffer, and every service and destination option the kernel keeps,
/// written through IPVSHandle and read back both by it and by ipvsadm.
@Suite(.kernelIPVS, .tags(.kernelIPVS))
struct NetlinkClientTableTests {
    /// 2 000 services of about 300 bytes each: some twenty 32 KiB dump steps, each its own receive.
    @Test func aDumpOf2000ServicesReturnsEveryOneOfThem() throws {
        let namespace = try NetworkNamespace("nl-big")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let services = (0..<2000).map { (i: Int) -> VirtualService in
            if i % 2 == 0 {
                let address = IPAddress.v4(IPv4Address(10, 2, UInt8(i / 256), UInt8(i % 256)))
                return VirtualService(.address(.tcp, address, port: 80), scheduler: .wlc)
            }
            let address = IPAddress("2001:db8:2::\(String(i, radix: 16))")!
            return VirtualService(.address(.udp, address, port: 53), scheduler: .rr)
        }
        for service in services { try handle.addService(service) }
        // A multi-part dump resumes by counting every namespace's services (ip_vs_ctl.c
        // ip_vs_genl_dump_services), so services other tests add or delete meanwhile can make one dump repeat or
        // skip entries: dump until two in a row agree (each dump is the multi-part `services()`).
        let dumped = try handle.servicesConsistently()
        #expect(dumped.count == services.count)
        #expect(Set(dumped.map(\.service)) == Set(services))
        var lines = 0
        for _ in 0..<5 {
            lines = try namespace.ipvsadm("-Ln").split(separator: "\n").count
            if lines == 3 + services.count { break }
        }
        #expect(lines == 3 + services.count)
    }

    /// 1 000 destinations of one service: the kernel dumps them one service at a time, in several steps.
    @Test func aDumpOf1000DestinationsOfOneServiceReturnsEveryOneInTheKernelsOrder() throws {
        let namespace = try NetworkNamespace("nl-big")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let service = VirtualService(.address(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: .wrr)
        try handle.addService(service)
        let servers = (0..<1000).map { (i: Int) -> RealServer in
            let address = IPAddress.v4(IPv4Address(10, 3, UInt8(i / 256), UInt8(i % 256)))
            return RealServer(address, port: 8080, forwarding: .route, weight: Int32(i % 7))
        }
        for server in servers { try handle.addDestination(server, to: service) }
        let dumped = try handle.destinations(of: service)
        // Each new destination goes to the head of the list (ip_vs_ctl.c __ip_vs_update_dest: list_add_rcu).
        #expect(dumped.map(\.server) == servers.reversed())
        let listing = try namespace.ipvsadm("-Ln", "-t", "10.0.0.1:80")
        #expect(listing.split(separator: "\n").count == 3 + servers.count)
    }

    /// Scheduler flags, persistence with a netmask, the sip persistence engine, one-packet scheduling, IPv6 and
    /// fwmark services; destinations with each forwarding method, thresholds and every tunnel type, port and
    /// flag: what goes in comes back, and ipvsadm -Sn saves the same table.
    @Test func everyServiceAndDestinationOptionRoundTrips() throws {
        let namespace = try NetworkNamespace("nl-opts")
        var handle = try IPVSHandle(networkNamespace: namespace.path)
        let services = [
            VirtualService(
                .address(.tcp, IPAddress("10.0.0.1")!, port: 443), scheduler: .sh, flags: [.shFallback, .shPort]),
            VirtualService(.firewallMark(7, .inet), scheduler: .mh, flags: [.mhFallback, .mhPort]),
            VirtualService(.firewallMark(8, .inet6), scheduler: .lc, flags: .persistent, persistenceTimeout: 60,
                           netmask: 48),
            VirtualService(
                .address(.udp, IPAddress("10.0.0.2")!, port: 5060), scheduler: .wrr, flags: .persistent,
                persistenceTimeout: 120, netmask: 0xffff_ff00, persistenceEngine: "sip"),
            VirtualService(.address(.udp, IPAddress("2001:db8::1")!, port: 53), scheduler: .sed, flags: .onePacket),
            VirtualService(.address(.sctp, IPAddress("10.0.0.3")!, port: 3868), scheduler: .nq),
        ]
        let servers = [
            RealServer(IPAddress("10.0.1.1")!, port: 443, forwarding: .masquerade, weight: 5, upperThreshold: 200,
                       lowerThreshold: 100),
            RealServer(IPAddress("10.0.1.2")!, port: 443, forwarding: .route, weight: 0),
            RealServer(IPAddress("10.0.1.3")!, port: 443, forwarding: .tunnel, tunnelType: .ipip),
            RealServer(IPAddress("10.0.1.4")!, port: 443, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6080,
                       tunnelFlags: [.checksum]),
            RealServer(IPAddress("10.0.1.5")!, port: 443, forwarding: .tunnel, tunnelType: .gue, tunnelPort: 6081,
                       tunnelFlags: [.remoteChecksum]),
            RealServer(IPAddress("10.0.1.6")!, port: 443, forwarding: .tunnel, tunnelType: .gre,
                       tunnelFlags: [.checksum]),
        ]
        for service in services { try handle.addService(service) }
        for server in servers { try handle.addDestination(server, to: services[0]) }
        for service in services { #expect(try handle.service(service).service == service) }
        #expect(Set(try handle.services().map(\.service)) == Set(services))
        #expect(try handle.destinations(of: services[0]).map(\.server) == servers.reversed())

        // ipvsadm -S leaves thresholds out; `-Ln --thresholds` shows them.
        let saved = try namespace.ipvsadm("-Sn").split(separator: "\n").map(String.init)
        #expect(
            Set(saved) == [
                "-A -t 10.0.0.1:443 -s sh -b sh-fallback,sh-port",
                "-a -t 10.0.0.1:443 -r 10.0.1.1:443 -m -w 5",
                "-a -t 10.0.0.1:443 -r 10.0.1.2:443 -g -w 0",
                "-a -t 10.0.0.1:443 -r 10.0.1.3:443 -i -w 1 --tun-type ipip",
                "-a -t 10.0.0.1:443 -r 10.0.1.4:443 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
                "-a -t 10.0.0.1:443 -r 10.0.1.5:443 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum",
                "-a -t 10.0.0.1:443 -r 10.0.1.6:443 -i -w 1 --tun-type gre --tun-csum",
                "-A -u 10.0.0.2:5060 -s wrr -p 120 -M 255.255.255.0 --pe sip",
                "-A --sctp-service 10.0.0.3:3868 -s nq",
                "-A -u [2001:db8::1]:53 -s sed -o",
                "-A -f 7 -s mh -b mh-fallback,mh-port",
                "-A -f 8 -6 -s lc -p 60 -M 48",
            ])
        let thresholds = try namespace.ipvsadm("-Ln", "--thresholds")
        #expect(thresholds.contains("  -> 10.0.1.1:443                 200        100"), "\(thresholds)")
    }
}
