/// What a `ConnectionTable` holds for a connection: the destination and service the balancer chose, and the
/// protocol state, flags and expiry that change as the connection goes on.
///
/// `destination` and `service` are fixed when the connection is inserted (in the kernel a connection keeps its
/// `ip_vs_dest` for life: ip_vs_conn.c `ip_vs_bind_dest`); `state`, `flags` and `expiry` change through
/// `ConnectionTable.update`. The table gives them no meaning: the balancer defines the state numbers (the kernel's
/// `IP_VS_TCP_S_*`, …) and the flags.
///
/// Stored as two words, exactly as a slot holds them: `ids` (destination in bits 0…31, service in 32…63) and
/// `word` (state in bits 0…7, flags in 8…23, expiry in bits 24…63). Because the changing part is one 64-bit word
/// next to the slot's header, an update or a removal is a single double-word compare-and-swap of (header, word): it
/// is atomic, lock-free, and readers never wait for it.
///
/// The expiry is kept in whole milliseconds (40 bits, about 34.8 years from the caller's epoch, which is whatever
/// clock the caller's `Timestamp`s count from — a monotonic clock's boot time, typically), like the kernel keeps its
/// timers in jiffies. `init` rounds an expiry *up* to the next millisecond, so a connection never expires early and
/// what you read back equals what you built; an expiry at or beyond `Timestamp.never`'s range means "never expires".
@frozen
public struct ConnectionValue: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var ids: UInt64
    @usableFromInline var word: UInt64

    @inlinable static var expiryShift: UInt64 { 24 }
    /// The largest expiry tick; it means "never".
    @inlinable static var neverTick: UInt64 { (1 << 40) - 1 }
    @inlinable static var nanosecondsPerTick: UInt64 { 1_000_000 }

    @inlinable
    init(ids: UInt64, word: UInt64) {
        self.ids = ids
        self.word = word
    }

    @inlinable
    public init(destination: UInt32, service: UInt32, state: UInt8 = 0, flags: UInt16 = 0, expiry: Timestamp) {
        self.init(
            ids: UInt64(destination) | UInt64(service) << 32,
            word: UInt64(state) | UInt64(flags) << 8 | ConnectionValue.tick(expiry) << ConnectionValue.expiryShift)
    }

    /// The expiry tick of a timestamp: whole milliseconds, rounded up, saturating at "never".
    @inlinable
    static func tick(_ t: Timestamp) -> UInt64 {
        let q = t.nanoseconds / nanosecondsPerTick
        let up = q + (t.nanoseconds % nanosecondsPerTick == 0 ? 0 : 1)
        return up >= neverTick ? neverTick : up
    }

    /// The tick of "now" for expiry checks: whole milliseconds, rounded down. A connection with expiry tick `e` has
    /// expired at `now` exactly when `now >= e ms`, that is when `nowTick(now) >= e`.
    @inlinable
    static func nowTick(_ t: Timestamp) -> UInt64 {
        let q = t.nanoseconds / nanosecondsPerTick
        return q >= neverTick ? neverTick - 1 : q
    }

    /// The real server (an index or id the balancer defines).
    @inlinable
    public var destination: UInt32 {
        get { UInt32(truncatingIfNeeded: ids) }
        set { ids = ids & 0xFFFF_FFFF_0000_0000 | UInt64(newValue) }
    }

    /// The virtual service (an id the balancer defines).
    @inlinable
    public var service: UInt32 {
        get { UInt32(truncatingIfNeeded: ids >> 32) }
        set { ids = ids & 0xFFFF_FFFF | UInt64(newValue) << 32 }
    }

    /// The protocol state (opaque to the table).
    @inlinable
    public var state: UInt8 {
        get { UInt8(truncatingIfNeeded: word) }
        set { word = word & ~0xFF | UInt64(newValue) }
    }

    /// Flags (opaque to the table).
    @inlinable
    public var flags: UInt16 {
        get { UInt16(truncatingIfNeeded: word >> 8) }
        set { word = word & ~0xFF_FF00 | UInt64(newValue) << 8 }
    }

    /// When the connection expires: from this instant on, lookups miss it and `sweep` removes it.
    /// Whole milliseconds; `Timestamp.never` when it never expires.
    @inlinable
    public var expiry: Timestamp {
        get {
            let t = expiryTick
            return t == ConnectionValue.neverTick
                ? .never : Timestamp(nanoseconds: t &* ConnectionValue.nanosecondsPerTick)
        }
        set {
            word = word & (1 << ConnectionValue.expiryShift - 1)
                | ConnectionValue.tick(newValue) << ConnectionValue.expiryShift
        }
    }

    @inlinable
    var expiryTick: UInt64 { word >> ConnectionValue.expiryShift }

    /// Whether the connection has expired at `nowTick` (see `nowTick(_:)`).
    @inlinable
    func isExpired(nowTick: UInt64) -> Bool { expiryTick <= nowTick }

    /// Whether the connection has expired at `now`.
    @inlinable
    public func isExpired(at now: Timestamp) -> Bool { isExpired(nowTick: ConnectionValue.nowTick(now)) }

    public var description: String {
        let e = expiry == .never ? "never" : "\(expiry.nanoseconds / 1_000_000) ms"
        return "dest \(destination) service \(service) state \(state) flags 0x\(String(flags, radix: 16)) expiry \(e)"
    }
}

extension Timestamp {
    /// A time that never comes: a connection with this expiry never expires.
    @inlinable public static var never: Timestamp { Timestamp(nanoseconds: .max) }
}
