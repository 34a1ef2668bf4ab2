/// The kernel's schedulers, by the names `ipvsadm -s` takes and the kernel registers
/// (`struct ip_vs_scheduler.name` in net/netfilter/ipvs/ip_vs_*.c).
public enum SchedulerKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case rr, wrr, lc, wlc, sed, nq, dh, sh, mh, fo, ovf, lblc, lblcr

    public var description: String { rawValue }

    /// The scheduler flags (`-b`) this scheduler gives a meaning to. sh and mh read flag 1 (fallback) and
    /// flag 2 (port); every other scheduler ignores all three.
    public var meaningfulFlags: ServiceFlags {
        switch self {
        case .sh, .mh: return [.schedulerFlag1, .schedulerFlag2]
        default: return []
        }
    }
}

/// A point in time for the schedulers and tables that age entries (lblc, lblcr, persistence templates).
/// Callers pass it in, so every decision is reproducible; the core never reads a clock.
public struct Timestamp: Hashable, Sendable, Comparable {
    public var nanoseconds: UInt64

    @inlinable
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    @inlinable public static var zero: Timestamp { Timestamp(nanoseconds: 0) }

    public static func seconds(_ s: UInt64) -> Timestamp { Timestamp(nanoseconds: s &* 1_000_000_000) }

    @inlinable
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanoseconds < b.nanoseconds }

    /// This time plus `seconds` (saturating).
    @inlinable
    public func adding(seconds: UInt64) -> Timestamp {
        let (v, o) = nanoseconds.addingReportingOverflow(seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue)
        return Timestamp(nanoseconds: o ? .max : v)
    }
}

/// What a scheduler sees of the packet that opens a connection.
public struct Flow: Hashable, Sendable {
    public var ipProtocol: IPProtocol
    public var sourceAddress: IPAddress
    public var sourcePort: UInt16
    /// The packet's destination: the virtual address (for a firewall-mark service, whatever the packet was sent to).
    public var destinationAddress: IPAddress
    public var destinationPort: UInt16

    @inlinable
    public init(
        _ ipProtocol: IPProtocol, from sourceAddress: IPAddress, port sourcePort: UInt16,
        to destinationAddress: IPAddress, port destinationPort: UInt16
    ) {
        self.ipProtocol = ipProtocol
        self.sourceAddress = sourceAddress
        self.sourcePort = sourcePort
        self.destinationAddress = destinationAddress
        self.destinationPort = destinationPort
    }
}
