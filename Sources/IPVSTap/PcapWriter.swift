#if canImport(Glibc)
import Glibc
#endif

/// The layout of a classic pcap file (https://www.tcpdump.org/manpages/pcap-savefile.5.html): the magic number says
/// the timestamp precision (0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds) and, by how it reads, the byte order
/// of every header field.
public struct PcapFileFormat: Sendable, Hashable {
    public enum ByteOrder: Sendable, Hashable { case littleEndian, bigEndian }
    public enum Precision: Sendable, Hashable { case microseconds, nanoseconds }

    public var linkType: LinkType
    public var precision: Precision
    public var byteOrder: ByteOrder
    public var snapLength: UInt32

    public init(linkType: LinkType, precision: Precision = .microseconds, byteOrder: ByteOrder = .littleEndian,
                snapLength: UInt32 = 262_144) {
        self.linkType = linkType
        self.precision = precision
        self.byteOrder = byteOrder
        self.snapLength = snapLength
    }

    public var magic: UInt32 { precision == .microseconds ? 0xA1B2_C3D4 : 0xA1B2_3C4D }
}

/// Writes classic pcap files in either precision and byte order (libpcap's `pcap_dump` writes only the host's
/// order): for tests, fuzz seeds and generated benchmark captures. Records collect in `bytes`; a writer opened on a
/// path moves them to the file whenever a megabyte has gathered, and on `close()`.
public final class PcapWriter {
    public let format: PcapFileFormat
    /// The bytes not yet written to the file (all of them for an in-memory writer).
    public private(set) var bytes: [UInt8] = []
    public private(set) var recordCount = 0
    private var file: UnsafeMutablePointer<FILE>?
    private let path: String?

    /// An in-memory writer: the file's bytes are `bytes`.
    public init(format: PcapFileFormat) {
        self.format = format
        self.path = nil
        writeHeader()
    }

    /// A writer to the file at `path` (created or truncated).
    public init(path: String, format: PcapFileFormat) throws(PcapError) {
        self.format = format
        self.path = path
        guard let f = fopen(path, "wb") else {
            throw PcapError(operation: "open \(path) for writing", message: String(cString: strerror(errno)))
        }
        file = f
        writeHeader()
    }

    deinit {
        if let file { fclose(file) }
    }

    private func writeHeader() {
        put32(format.magic)
        put16(2)
        put16(4)
        put32(0)  // thiszone
        put32(0)  // sigfigs
        put32(format.snapLength)
        put32(format.linkType.fileValue)
    }

    /// Appends one record. `originalLength` is the length on the wire when the capture kept only a part (default:
    /// the bytes given).
    public func append(_ packet: some Collection<UInt8>, time: CaptureTime, originalLength: UInt32? = nil) {
        let seconds = time.nanoseconds / 1_000_000_000
        let fraction = time.nanoseconds % 1_000_000_000
        put32(UInt32(truncatingIfNeeded: seconds))
        put32(UInt32(truncatingIfNeeded: format.precision == .microseconds ? fraction / 1000 : fraction))
        put32(UInt32(packet.count))
        put32(originalLength ?? UInt32(packet.count))
        bytes.append(contentsOf: packet)
        recordCount += 1
        if file != nil && bytes.count >= 1 << 20 { try? flush() }
    }

    /// Writes the gathered bytes to the file.
    public func flush() throws(PcapError) {
        guard let file else { return }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else {
            throw PcapError(operation: "write \(path ?? "")", message: String(cString: strerror(errno)))
        }
        bytes.removeAll(keepingCapacity: true)
    }

    /// Flushes and closes the file.
    public func close() throws(PcapError) {
        guard let f = file else { return }
        try flush()
        file = nil
        guard fclose(f) == 0 else {
            throw PcapError(operation: "close \(path ?? "")", message: String(cString: strerror(errno)))
        }
    }

    /// Writes `bytes` to a new file at `path` (for an in-memory writer).
    public func write(to path: String) throws(PcapError) {
        guard let f = fopen(path, "wb") else {
            throw PcapError(operation: "open \(path) for writing", message: String(cString: strerror(errno)))
        }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        let closed = fclose(f)
        guard written == bytes.count, closed == 0 else {
            throw PcapError(operation: "write \(path)", message: String(cString: strerror(errno)))
        }
    }

    private func put16(_ v: UInt16) {
        let x = format.byteOrder == .littleEndian ? v.littleEndian : v.bigEndian
        withUnsafeBytes(of: x) { bytes.append(contentsOf: $0) }
    }

    private func put32(_ v: UInt32) {
        let x = format.byteOrder == .littleEndian ? v.littleEndian : v.bigEndian
        withUnsafeBytes(of: x) { bytes.append(contentsOf: $0) }
    }
}
