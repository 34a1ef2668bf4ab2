/// One destination as the schedulers see it: its configuration and the live state the kernel keeps beside it.
public struct DestinationState: Hashable, Sendable {
    public var server: RealServer
    /// `activeconns`: connections in an established state (TCP ESTABLISHED, SCTP ESTABLISHED).
    public var activeConnections: Int32
    /// `inactconns`: every other connection (TCP handshakes and closing states, all UDP).
    public var inactiveConnections: Int32
    /// `persistconns`: persistence templates pointing at this destination.
    public var persistentConnections: Int32
    /// `IP_VS_DEST_F_OVERLOAD`: set when total connections reach the upper threshold, cleared when they drop
    /// below `lowerThresholdValue` (see `ServiceScheduler.updateOverload`).
    public var overloaded: Bool
    /// `last_weight`: the latest non-zero weight (or 0 if it was added with 0); the mh table is built from it,
    /// so quiescing a server keeps its slots (ip_vs_ctl.c `__ip_vs_update_dest`).
    public var lastWeight: Int32

    public init(_ server: RealServer, activeConnections: Int32 = 0, inactiveConnections: Int32 = 0,
                persistentConnections: Int32 = 0, overloaded: Bool = false, lastWeight: Int32? = nil) {
        self.server = server
        self.activeConnections = activeConnections
        self.inactiveConnections = inactiveConnections
        self.persistentConnections = persistentConnections
        self.overloaded = overloaded
        self.lastWeight = lastWeight ?? server.weight
    }

    @inlinable public var weight: Int32 { server.weight }
    @inlinable public var key: DestinationKey { server.key }

    /// include/net/ip_vs.h `ip_vs_dest_conn_overhead` (Debian 6.1.192): `(activeconns << 8) + totalconns`, where
    /// `totalconns` counts active and inactive connections alike — so an active connection weighs 257, an inactive
    /// one 1. (Older kernels added `inactconns`, giving 256 and 1; the kernel in our test VM is the newer one.)
    @inlinable
    public var connectionOverhead: Int64 { Int64(activeConnections) << 8 + totalConnections }

    /// The kernel's `totalconns` counter (include/net/ip_vs.h `struct ip_vs_dest`): every non-template connection
    /// bound to the destination, active or not. The kernel keeps it and derives `inactconns` from it
    /// (`ip_vs_dest_inactconns`: `max(totalconns - activeconns, 0)`); we keep the two parts, which never go below
    /// zero, so the sum is the same number.
    @inlinable
    public var totalConnections: Int64 { Int64(activeConnections) + Int64(inactiveConnections) }

    /// `l_threshold_val` (ip_vs_ctl.c `__ip_vs_update_dest`): the lower threshold, or 75% of the upper one rounded
    /// up (`u - (u >> 2)`) when none is set. The kernel stores it beside the thresholds and rewrites all three
    /// together, so deriving it from them gives the same value at every moment.
    @inlinable
    public var lowerThresholdValue: UInt32 {
        server.lowerThreshold != 0 ? server.lowerThreshold : server.upperThreshold - (server.upperThreshold >> 2)
    }

    /// What most schedulers require to pick a destination: not overloaded and a positive weight.
    @inlinable
    public var isSchedulable: Bool { !overloaded && server.weight > 0 }
}

/// A service's destinations in the kernel's list order (`svc->destinations`).
///
/// The kernel adds a destination at the *head* of the list (`list_add_rcu` in ip_vs_ctl.c `__ip_vs_update_dest`),
/// so index 0 is the most recently added one. Every scheduler that walks the list, and every tie broken "by list
/// order", follows this order.
public struct DestinationList: Sendable, RandomAccessCollection {
    public private(set) var entries: [DestinationState]
    private var indexByKey: [DestinationKey: Int]

    public init() {
        entries = []
        indexByKey = [:]
    }

    /// A list already in kernel order (index 0 = head), e.g. as a kernel dump returns it.
    public init(kernelOrder: [DestinationState]) {
        entries = kernelOrder
        indexByKey = [:]
        reindex()
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }

    @inlinable
    public subscript(position: Int) -> DestinationState { entries[position] }

    public func index(of key: DestinationKey) -> Int? { indexByKey[key] }

    /// Inserts at the head, as the kernel does.
    mutating func insertAtHead(_ state: DestinationState) {
        precondition(indexByKey[state.key] == nil, "destination \(state.key) is already in the list")
        entries.insert(state, at: 0)
        reindex()
    }

    @discardableResult
    mutating func remove(at index: Int) -> DestinationState {
        let removed = entries.remove(at: index)
        reindex()
        return removed
    }

    mutating func modify<R>(at index: Int, _ body: (inout DestinationState) -> R) -> R {
        body(&entries[index])
    }

    private mutating func reindex() {
        indexByKey.removeAll(keepingCapacity: true)
        for (i, e) in entries.enumerated() { indexByKey[e.key] = i }
    }
}
