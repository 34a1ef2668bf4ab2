/// A binary min-heap of timers: each entry is a deadline and what it is for. Persistence templates
/// (``PersistenceTemplateTable``) and the tap's verifier use it to expire state in deadline order; a timer that
/// became stale (its entry was renewed or removed meanwhile) is the caller's to skip when it is popped.
public struct TimerHeap<Deadline: Comparable, Item>: Sendable where Deadline: Sendable, Item: Sendable {
    @usableFromInline var entries: [(deadline: Deadline, item: Item)] = []

    @inlinable public init() {}

    /// The earliest timer, still in the heap.
    @inlinable public var min: (deadline: Deadline, item: Item)? { entries.first }

    @inlinable public mutating func push(_ deadline: Deadline, _ item: Item) {
        entries.append((deadline, item))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].deadline < entries[parent].deadline else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the earliest timer.
    @inlinable @discardableResult public mutating func removeMin() -> (deadline: Deadline, item: Item)? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < entries.count && entries[l].deadline < entries[m].deadline { m = l }
            if r < entries.count && entries[r].deadline < entries[m].deadline { m = r }
            if m == i { break }
            entries.swapAt(i, m)
            i = m
        }
        return top
    }

    /// The earliest timer due at or before `now`, removed; nil when none is due.
    @inlinable public mutating func popDue(_ now: Deadline) -> (deadline: Deadline, item: Item)? {
        guard let top = entries.first, top.deadline <= now else { return nil }
        return removeMin()
    }
}
