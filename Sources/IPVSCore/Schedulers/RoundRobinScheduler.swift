/// rr — net/netfilter/ipvs/ip_vs_rr.c.
///
/// The kernel keeps a cursor into the destination list (`svc->sched_data`): the list head at first, then the last
/// destination picked. A pick walks on from the cursor, wrapping through the head once, to the first destination
/// that is not overloaded and has a positive weight (`ip_vs_rr_schedule`). Deleting the destination under the
/// cursor moves the cursor to its predecessor (`ip_vs_rr_del_dest`); adding one (at the head) does not move it.
public struct RoundRobinScheduler: SchedulingAlgorithm {
    /// Index of the last destination picked, or -1 for the list head.
    public private(set) var cursor: Int

    public init(destinations: DestinationList, flags: ServiceFlags) { cursor = -1 }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        // The new destination is linked in at `index` (the head): later entries shift by one.
        if cursor >= index { cursor += 1 }
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        if cursor == index {
            cursor = index - 1  // "use p->next->prev to reach previous entry" (the head when index is 0)
        } else if cursor > index {
            cursor -= 1
        }
    }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        let n = destinations.count
        let last = cursor
        // First pass: after the cursor up to the end of the list.
        var i = last + 1
        while i < n {
            if destinations[i].isSchedulable {
                cursor = i
                return i
            }
            i += 1
        }
        // Second pass (only when the cursor was not at the head): from the start up to and including the cursor.
        if last >= 0 {
            i = 0
            while i <= last && i < n {
                if destinations[i].isSchedulable {
                    cursor = i
                    return i
                }
                i += 1
            }
        }
        return nil
    }
}
