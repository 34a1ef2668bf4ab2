import CPcap
import Glibc
import Synchronization

/// One captured record as libpcap hands it over. `data` points into libpcap's buffer and is valid only until the
/// next call on the handle that returned it.
public struct PcapRecord {
    public var time: CaptureTime
    /// The captured bytes (at most the snapshot length).
    public var data: UnsafeRawBufferPointer
    /// The packet's length on the wire.
    public var originalLength: UInt32
}

/// What `PcapHandle.next()` found.
public enum PcapNext {
    case packet(PcapRecord)
    /// No packet came within the wait `next` was given (a live capture's read timeout by default).
    case timeout
    /// The end of a file, or `breakLoop()` was called.
    case end
}

/// Options of a live capture (`pcap_create` … `pcap_activate`).
public struct LiveCaptureOptions: Sendable {
    /// Bytes kept of each packet. Headers are all the tap needs; 256 covers Ethernet, two VLAN tags, an outer and an
    /// inner IPv6 header with a few extension headers and the transport header.
    public var snapLength: Int32 = 256
    public var promiscuous = false
    /// Deliver packets as they arrive rather than when the kernel's buffer block fills (libpcap then uses
    /// TPACKET_V2 instead of TPACKET_V3's blocks, which the kernel retires on a timer only once they hold a packet).
    public var immediate = true
    /// How long `next()` waits at most before answering `.timeout` (the handle waits itself, in poll(2): libpcap's
    /// own wait can block for good on an idle interface).
    public var timeoutMilliseconds: Int32 = 100
    /// The kernel ring buffer's size in bytes.
    public var bufferSize: Int32 = 16 << 20
    /// Ask for Linux cooked v2 headers (`DLT_LINUX_SLL2`, which carry the interface index) on the `any` device.
    /// Route (direct-routing) pairing from an `any` capture needs them.
    public var cookedV2OnAny = true

    public init() {}
}

/// A libpcap handle on a capture file (classic pcap in any precision and byte order, or pcapng) or a live
/// interface. Owned: closing it is its `deinit` (`pcap_close`). Timestamps come out in nanoseconds.
public struct PcapHandle: ~Copyable {
    let handle: OpaquePointer
    /// The link-layer header type of the capture (`pcap_datalink`).
    public let linkType: LinkType
    /// Multiplier from libpcap's sub-second timestamp field to nanoseconds (1000 for microsecond precision).
    let fractionScale: UInt64
    /// A live capture's descriptor, in non-blocking mode, that `next` polls itself; -1 for a file.
    let selectable: Int32
    /// `next()`'s wait for a live capture.
    public let readTimeoutMilliseconds: Int32
    /// Set by `breakLoop()`: libpcap's own flag is not looked at by a non-blocking read that finds no packet.
    private let stop = StopFlag()

    private final class StopFlag: Sendable {
        let raised = Atomic<Bool>(false)
    }

    private init(handle: OpaquePointer, selectable: Int32 = -1, readTimeoutMilliseconds: Int32 = 0) {
        self.handle = handle
        self.selectable = selectable
        self.readTimeoutMilliseconds = readTimeoutMilliseconds
        self.linkType = LinkType(rawValue: CPcap_pcap_datalink(handle))
        self.fractionScale = CPcap_pcap_get_tstamp_precision(handle) == Int32(PCAP_TSTAMP_PRECISION_NANO) ? 1 : 1000
    }

    deinit { CPcap_pcap_close(handle) }

    /// Opens a capture file for reading (`pcap_open_offline_with_tstamp_precision`, nanosecond precision).
    public static func open(file path: String) throws(PcapError) -> PcapHandle {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = CPcap_pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO),
                                                               &errorBuffer) else {
            throw PcapError(operation: "open capture file \(path)", message: errorText(errorBuffer))
        }
        return PcapHandle(handle: h)
    }

    /// Starts a live capture on `interface` (`any` for every interface).
    public static func capture(interface: String, options: LiveCaptureOptions = LiveCaptureOptions())
        throws(PcapError) -> PcapHandle
    {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let h = CPcap_pcap_create(interface, &errorBuffer) else {
            throw PcapError(operation: "capture on \(interface)", message: errorText(errorBuffer))
        }
        func check(_ status: Int32, _ what: String) throws(PcapError) {
            guard status >= 0 else {
                let detail = String(cString: CPcap_pcap_geterr(h))
                let message = String(cString: CPcap_pcap_statustostr(status)) + (detail.isEmpty ? "" : " (\(detail))")
                CPcap_pcap_close(h)
                throw PcapError(operation: "capture on \(interface): \(what)", message: message)
            }
        }
        try check(CPcap_pcap_set_snaplen(h, options.snapLength), "set the snapshot length")
        try check(CPcap_pcap_set_promisc(h, options.promiscuous ? 1 : 0), "set promiscuous mode")
        try check(CPcap_pcap_set_immediate_mode(h, options.immediate ? 1 : 0), "set immediate mode")
        try check(CPcap_pcap_set_timeout(h, options.timeoutMilliseconds), "set the read timeout")
        try check(CPcap_pcap_set_buffer_size(h, options.bufferSize), "set the buffer size")
        // Nanosecond stamps when the platform has them; the handle scales microseconds otherwise.
        _ = CPcap_pcap_set_tstamp_precision(h, Int32(PCAP_TSTAMP_PRECISION_NANO))
        try check(CPcap_pcap_activate(h), "activate")
        if interface == "any" && options.cookedV2OnAny {
            try check(CPcap_pcap_set_datalink(h, LinkType.linuxSLL2.rawValue), "select LINUX_SLL2 headers")
        }
        // Non-blocking, and `next` waits in poll(2) itself with a timeout it chooses. libpcap's blocking read on
        // Linux cannot be relied on to come back on an idle interface: with TPACKET_V3 it polls without a timeout
        // and waits for the kernel to retire a buffer block, which the kernel does only for a block holding a
        // packet (net/packet/af_packet.c, prb_retire_rx_blk_timer_expired); an idle capture never saw its
        // --duration, --count or stop request.
        guard CPcap_pcap_setnonblock(h, 1, &errorBuffer) == 0 else {
            CPcap_pcap_close(h)
            throw PcapError(
                operation: "capture on \(interface): set non-blocking mode", message: errorText(errorBuffer))
        }
        let fd = CPcap_pcap_get_selectable_fd(h)
        guard fd >= 0 else {
            CPcap_pcap_close(h)
            throw PcapError(operation: "capture on \(interface)", message: "no selectable descriptor")
        }
        return PcapHandle(handle: h, selectable: fd, readTimeoutMilliseconds: max(1, options.timeoutMilliseconds))
    }

    /// Compiles `expression` for this handle and installs it (`pcap_compile`, `pcap_setfilter`).
    public func setFilter(_ expression: String) throws(PcapError) {
        var program = bpf_program()
        guard CPcap_pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw PcapError(
                operation: "compile filter \"\(expression)\"", message: String(cString: CPcap_pcap_geterr(handle)))
        }
        defer { CPcap_pcap_freecode(&program) }
        guard CPcap_pcap_setfilter(handle, &program) == 0 else {
            throw PcapError(
                operation: "install filter \"\(expression)\"", message: String(cString: CPcap_pcap_geterr(handle)))
        }
    }

    /// The next record (`pcap_next_ex`). A record's bytes are valid until the next call. A live capture waits at
    /// most its read timeout for one, then answers `.timeout`.
    public func next() throws(PcapError) -> PcapNext {
        try next(waitingAtMost: readTimeoutMilliseconds)
    }

    /// The next record; a live capture waits at most `milliseconds` (0: not at all) for one, then answers
    /// `.timeout`. A file's next record is always there (or its end).
    public func next(waitingAtMost milliseconds: Int32) throws(PcapError) -> PcapNext {
        if stop.raised.load(ordering: .acquiring) { return .end }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var status = CPcap_pcap_next_ex(handle, &header, &data)
        if status == 0 && selectable >= 0 && milliseconds > 0 {
            var wait = milliseconds
            // Where the descriptor alone does not announce every packet, libpcap says how long to wait at most.
            if let required = CPcap_pcap_get_required_select_timeout(handle) {
                let ms = Int(required.pointee.tv_sec) * 1000 + (Int(required.pointee.tv_usec) + 999) / 1000
                wait = Int32(clamping: min(Int(wait), max(1, ms)))
            }
            var descriptor = pollfd(fd: selectable, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, wait) > 0 { status = CPcap_pcap_next_ex(handle, &header, &data) }
            if status == 0 && stop.raised.load(ordering: .acquiring) { return .end }
        }
        switch status {
        case 1:
            guard let header, let data else { return .end }
            let h = header.pointee
            let time = CaptureTime(nanoseconds: UInt64(h.ts.tv_sec) &* 1_000_000_000
                &+ UInt64(h.ts.tv_usec) &* fractionScale)
            return .packet(PcapRecord(time: time, data: UnsafeRawBufferPointer(start: data, count: Int(h.caplen)),
                                      originalLength: h.len))
        case 0:
            return .timeout
        case PCAP_ERROR_BREAK:
            return .end
        default:
            throw PcapError(operation: "read a packet", message: String(cString: CPcap_pcap_geterr(handle)))
        }
    }

    /// Makes a `next()` running on another thread return `.end` (`pcap_breakloop`), at the latest when its wait ends.
    public func breakLoop() {
        stop.raised.store(true, ordering: .releasing)
        CPcap_pcap_breakloop(handle)
    }

    /// Packets received and dropped by the kernel for a live capture (`pcap_stats`); nil for files.
    public func kernelStatistics() -> (received: UInt32, dropped: UInt32)? {
        var s = pcap_stat()
        guard CPcap_pcap_stats(handle, &s) == 0 else { return nil }
        return (s.ps_recv, s.ps_drop)
    }
}

/// The NUL-terminated text libpcap wrote into an error buffer.
func errorText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
