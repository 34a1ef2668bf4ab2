/// What identifies a connection in a `ConnectionTable`: the protocol, the client's address and port, the virtual
/// address and port the client sent to, and — for a connection of a firewall-mark service — the mark.
///
/// The kernel keys its connection table by the same tuple (ip_vs_conn.c `ip_vs_conn_hashkey` hashes protocol,
/// client address and port; `__ip_vs_conn_in_get` then compares the virtual address and port). We add the firewall
/// mark so that a fwmark service's connection and an address service's connection with the same tuple stay apart;
/// a mark of 0 means "no mark" (the kernel refuses fwmark 0 for a service: ip_vs_ctl.c `ip_vs_add_service`).
///
/// The key is stored as six fixed-size words, exactly as a table slot holds it, so that hashing and comparing it on
/// the lookup path are a few integer operations with no allocation and no existential:
/// - `tag`: the protocol number (bits 8…15) and an IPv6 bit (bit 3), laid out as in the slot's header word;
/// - `ports`: client port (bits 0…15), virtual port (bits 16…31), firewall mark (bits 32…63);
/// - `client0`/`client1`, `virtual0`/`virtual1`: the addresses (IPv4: the address in word 0 and 0 in word 1;
///   IPv6: the high and low halves). The IPv6 bit keeps `10.0.0.1` apart from `::10.0.0.1` and `::ffff:10.0.0.1`.
@frozen
public struct ConnectionKey: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var tag: UInt64
    @usableFromInline var ports: UInt64
    @usableFromInline var client0: UInt64
    @usableFromInline var client1: UInt64
    @usableFromInline var virtual0: UInt64
    @usableFromInline var virtual1: UInt64

    @inlinable static var ipv6Bit: UInt64 { 1 << 3 }
    /// The bits of a slot header that hold the key's tag.
    @inlinable static var tagMask: UInt64 { 0xFF08 }

    @inlinable
    init(tag: UInt64, ports: UInt64, client0: UInt64, client1: UInt64, virtual0: UInt64, virtual1: UInt64) {
        self.tag = tag
        self.ports = ports
        self.client0 = client0
        self.client1 = client1
        self.virtual0 = virtual0
        self.virtual1 = virtual1
    }

    @inlinable
    static func packPorts(_ clientPort: UInt16, _ virtualPort: UInt16, _ firewallMark: UInt32) -> UInt64 {
        UInt64(clientPort) | UInt64(virtualPort) << 16 | UInt64(firewallMark) << 32
    }

    /// An IPv4 connection key: the fast path (no enum payloads to unpack).
    @inlinable
    public init(
        _ ipProtocol: IPProtocol, client: IPv4Address, clientPort: UInt16, virtual: IPv4Address,
        virtualPort: UInt16, firewallMark: UInt32 = 0
    ) {
        self.init(
            tag: UInt64(truncatingIfNeeded: ipProtocol.rawValue) << 8,
            ports: ConnectionKey.packPorts(clientPort, virtualPort, firewallMark),
            client0: UInt64(client.value), client1: 0, virtual0: UInt64(virtual.value), virtual1: 0)
    }

    /// An IPv6 connection key.
    @inlinable
    public init(
        _ ipProtocol: IPProtocol, client: IPv6Address, clientPort: UInt16, virtual: IPv6Address,
        virtualPort: UInt16, firewallMark: UInt32 = 0
    ) {
        self.init(
            tag: UInt64(truncatingIfNeeded: ipProtocol.rawValue) << 8 | ConnectionKey.ipv6Bit,
            ports: ConnectionKey.packPorts(clientPort, virtualPort, firewallMark),
            client0: client.high, client1: client.low, virtual0: virtual.high, virtual1: virtual.low)
    }

    /// A key from addresses of either family; `nil` when the client and virtual addresses are of different
    /// families (a connection's two ends are of one family, as in the kernel's `ip_vs_conn_param`).
    @inlinable
    public init?(
        _ ipProtocol: IPProtocol, client: IPAddress, clientPort: UInt16, virtual: IPAddress, virtualPort: UInt16,
        firewallMark: UInt32 = 0
    ) {
        switch (client, virtual) {
        case (.v4(let c), .v4(let v)):
            self.init(ipProtocol, client: c, clientPort: clientPort, virtual: v, virtualPort: virtualPort,
                      firewallMark: firewallMark)
        case (.v6(let c), .v6(let v)):
            self.init(ipProtocol, client: c, clientPort: clientPort, virtual: v, virtualPort: virtualPort,
                      firewallMark: firewallMark)
        default:
            return nil
        }
    }

    /// The key of the connection `flow` opens to `service`: a firewall-mark service puts its mark in the key.
    /// `nil` when the flow's two addresses are of different families.
    @inlinable
    public init?(_ flow: Flow, service: ServiceKey) {
        let mark: UInt32
        if case .firewallMark(let m, _) = service { mark = m } else { mark = 0 }
        self.init(flow.ipProtocol, client: flow.sourceAddress, clientPort: flow.sourcePort,
                  virtual: flow.destinationAddress, virtualPort: flow.destinationPort, firewallMark: mark)
    }

    public var ipProtocol: IPProtocol {
        // Every key is built from an IPProtocol, so the stored number is always a valid case.
        IPProtocol(rawValue: UInt16(truncatingIfNeeded: tag >> 8))!
    }

    public var family: AddressFamily { tag & ConnectionKey.ipv6Bit == 0 ? .inet : .inet6 }

    public var clientAddress: IPAddress {
        family == .inet
            ? .v4(IPv4Address(UInt32(truncatingIfNeeded: client0))) : .v6(IPv6Address(high: client0, low: client1))
    }

    public var virtualAddress: IPAddress {
        family == .inet
            ? .v4(IPv4Address(UInt32(truncatingIfNeeded: virtual0)))
            : .v6(IPv6Address(high: virtual0, low: virtual1))
    }

    public var clientPort: UInt16 { UInt16(truncatingIfNeeded: ports) }
    public var virtualPort: UInt16 { UInt16(truncatingIfNeeded: ports >> 16) }
    /// The firewall mark of a fwmark service's connection, 0 for an address service's.
    public var firewallMark: UInt32 { UInt32(truncatingIfNeeded: ports >> 32) }

    public var description: String {
        let c = clientAddress, v = virtualAddress
        let cs = family == .inet ? "\(c):\(clientPort)" : "[\(c)]:\(clientPort)"
        let vs = family == .inet ? "\(v):\(virtualPort)" : "[\(v)]:\(virtualPort)"
        return firewallMark == 0 ? "\(ipProtocol) \(cs) -> \(vs)" : "\(ipProtocol) \(cs) -> \(vs) FWM \(firewallMark)"
    }

    /// A 64-bit hash of the key under `seed` (a per-table random value, so that clients cannot choose tuples that
    /// collide; the kernel keys its connection hash with a random `ip_vs_conn_rnd` for the same reason).
    /// Two rounds of multiply-xorshift over the folded words: cheap, and good enough for linear probing with a
    /// power-of-two table (the high bits are used).
    @inlinable @inline(__always)
    func hash(seed: UInt64) -> UInt64 {
        var h = seed ^ tag
        h = ConnectionKey.mix(h ^ ports)
        h = ConnectionKey.mix(h ^ client0 ^ (virtual0 &* 0x9E37_79B9_7F4A_7C15))
        if tag & ConnectionKey.ipv6Bit != 0 {
            h = ConnectionKey.mix(h ^ client1 ^ (virtual1 &* 0xC2B2_AE3D_27D4_EB4F))
        }
        return ConnectionKey.mix(h)
    }

    @inlinable @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        // The finaliser of MurmurHash3 / SplitMix64 (public-domain constants).
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
