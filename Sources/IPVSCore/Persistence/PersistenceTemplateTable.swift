/// One persistence template (`struct ip_vs_conn` with `IP_VS_CONN_F_TEMPLATE`): it pins a client network to a
/// destination while it lives.
public struct PersistenceTemplate: Hashable, Sendable {
    /// The key it is hashed under now: the one it was created with, or, once invalidated, the same key with virtual
    /// port 0xffff.
    public internal(set) var key: PersistenceTemplateKey
    /// `ct->dest`, by identity: a deleted destination comes back from the trash as the same one.
    public internal(set) var destination: DestinationKey
    /// When its timer fires.
    public internal(set) var expires: Timestamp
    /// `ct->timeout` in seconds: the service's persistence timeout when created, 60 once the template has outlived
    /// it while controlling connections (ip_vs_conn.c `ip_vs_conn_expire`, `expire_later`). Every new connection
    /// through the template restarts its timer with it.
    public internal(set) var timeoutSeconds: UInt64
    /// `ct->n_control`: connections created through this template and not yet ended. The template does not expire
    /// while there are any.
    public internal(set) var controlledConnections: Int
    /// Whether `ip_vs_check_template` found its destination unavailable and rehashed it out of the way. It still
    /// counts in its destination's persistent connections until its timer lets it go.
    public internal(set) var isInvalidated: Bool
}

/// The persistence templates of a service, with their timers: the template part of the kernel's connection table
/// (ip_vs_conn.c `ip_vs_conn_tab`).
///
/// Lookups return what `ip_vs_ct_in_get` returns: of the templates hashed under a key, the one hashed last (the
/// kernel adds at the head of a hash chain). Normally a key holds one template; invalidated ones pile up under the
/// 0xffff key, where a service on port 65535 can find them again (as in the kernel).
///
/// Timers are exact to the nanosecond and fire before anything else that happens at the same instant; the kernel's
/// fire on a jiffy of the timer wheel. Each template has one pending timer entry; a restarted timer is re-queued
/// lazily when its old expiry comes up, so a refresh does not allocate.
public struct PersistenceTemplateTable: Sendable {
    /// A template's place in the table; valid until the template is let go.
    public typealias ID = Int

    /// Templates by ID; a freed slot is reused. (A slab rather than a dictionary: updating a template in place is
    /// then a plain array access, with no allocation.)
    private var slots: [PersistenceTemplate?] = []
    private var freeSlots: [ID] = []
    private var chains: [PersistenceTemplateKey: [ID]] = [:]
    private var timers = TimerHeap<Timestamp, Int>()
    public private(set) var count = 0

    public init() {}

    /// The `expire_later` delay of ip_vs_conn.c `ip_vs_conn_expire`: a template that still controls connections when
    /// its timer fires is looked at again 60 s later, with `ct->timeout` set to 60 s.
    public static let controllingRetrySeconds: UInt64 = 60

    public subscript(id: ID) -> PersistenceTemplate? { id >= 0 && id < slots.count ? slots[id] : nil }

    /// Every template, in no particular order.
    public var all: [PersistenceTemplate] { slots.compactMap { $0 } }

    /// ip_vs_conn.c `ip_vs_ct_in_get`: the template hashed last under `key`.
    public func lookup(_ key: PersistenceTemplateKey) -> ID? { chains[key]?.first }

    /// A new template (`ip_vs_conn_new` with `IP_VS_CONN_F_TEMPLATE`, `ct->timeout = svc->timeout`), hashed at the
    /// head of its key's chain, its timer running from `now`.
    mutating func create(_ key: PersistenceTemplateKey, destination: DestinationKey, timeoutSeconds: UInt64,
                         now: Timestamp) -> ID {
        insert(key, destination: destination, expires: now.adding(seconds: timeoutSeconds),
               timeoutSeconds: timeoutSeconds)
    }

    /// Adds a template as it exists elsewhere (e.g. read from the kernel): hashed at the head of its key's chain,
    /// expiring at `expires`. Counting it in its destination is the caller's business.
    public mutating func insert(_ key: PersistenceTemplateKey, destination: DestinationKey, expires: Timestamp,
                                timeoutSeconds: UInt64, controlledConnections: Int = 0) -> ID {
        let t = PersistenceTemplate(
            key: key, destination: destination, expires: expires, timeoutSeconds: timeoutSeconds,
            controlledConnections: controlledConnections, isInvalidated: false)
        let id: ID
        if let reused = freeSlots.popLast() {
            id = reused
            slots[id] = t
        } else {
            id = slots.count
            slots.append(t)
        }
        count += 1
        chains[key, default: []].insert(id, at: 0)
        timers.push(expires, id)
        return id
    }

    /// ip_vs_conn.c `ip_vs_conn_put` on a template: its timer restarts with its own timeout.
    mutating func refresh(_ id: ID, now: Timestamp) {
        guard let t = slots[id] else { return }
        let expires = now.adding(seconds: t.timeoutSeconds)
        // The new expiry is never earlier than the queued one (see `popExpired`), so the queue entry stays.
        if expires > t.expires { slots[id]!.expires = expires }
    }

    /// The invalidation in ip_vs_conn.c `ip_vs_check_template`: unless its virtual port already is 0xffff, the
    /// template is rehashed under the 0xffff key (at the head of that chain). Its timer is not restarted.
    mutating func invalidate(_ id: ID) {
        guard let t = slots[id] else { return }
        slots[id]!.isInvalidated = true
        guard t.key.virtualPort != PersistenceTemplateKey.invalidatedPort else { return }
        unhash(id, from: t.key)
        let k = t.key.invalidated
        slots[id]!.key = k
        chains[k, default: []].insert(id, at: 0)
    }

    /// `ip_vs_control_add`.
    mutating func controlAdded(_ id: ID) { slots[id]!.controlledConnections += 1 }

    /// `ip_vs_control_del`.
    mutating func controlRemoved(_ id: ID) { slots[id]!.controlledConnections -= 1 }

    /// Runs the template timers due at or before `now` (ip_vs_conn.c `ip_vs_conn_expire`) until one lets its template
    /// go, and returns that template, now removed; `nil` when no more are due. A template that still controls
    /// connections is kept for 60 s more each time its timer fires.
    mutating func popExpired(until now: Timestamp) -> PersistenceTemplate? {
        while let (time, id) = timers.popDue(now) {
            guard let t = slots[id] else { continue }
            if t.expires > time {
                // Restarted since it was queued.
                timers.push(t.expires, id)
                continue
            }
            if t.controlledConnections > 0 {
                // expire_later: fires again every 60 s until the connections are gone.
                let step = Self.controllingRetrySeconds * 1_000_000_000
                let missed = (now.nanoseconds - t.expires.nanoseconds) / step + 1
                let expires = Timestamp(nanoseconds: t.expires.nanoseconds &+ missed &* step)
                slots[id]!.expires = expires
                slots[id]!.timeoutSeconds = Self.controllingRetrySeconds
                timers.push(expires, id)
                continue
            }
            slots[id] = nil
            freeSlots.append(id)
            count -= 1
            unhash(id, from: t.key)
            return t
        }
        return nil
    }

    private mutating func unhash(_ id: ID, from key: PersistenceTemplateKey) {
        guard var chain = chains.removeValue(forKey: key) else { return }
        chain.removeAll { $0 == id }
        if !chain.isEmpty { chains[key] = chain }
    }
}
