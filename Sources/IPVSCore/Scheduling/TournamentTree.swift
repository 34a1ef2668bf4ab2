/// How a tournament tree ranks destinations: which ones may win, and when the later (right) one beats the earlier.
///
/// Every kernel scheduler that scans the whole list for "the best destination, the first one on a tie"
/// (lc, wlc, sed, nq, fo, ovf) is a leftmost-minimum over a total preorder, so a tournament tree computes the same
/// winner and keeps it current in O(log N) per change, where the kernel rescans O(N) per pick.
public protocol TournamentPolicy: Sendable {
    associatedtype Key: Sendable
    /// The part of a destination's state the ranking depends on.
    static func key(of destination: DestinationState) -> Key
    static func isEligible(_ key: Key) -> Bool
    /// `true` if `right` (later in list order) strictly beats `left`; on a tie the earlier one wins, as in the
    /// kernel's scans, which replace the current best only on a strict comparison.
    static func rightWins(_ left: Key, _ right: Key) -> Bool
}

/// A tournament (winner) tree over a service's destinations in list order.
///
/// Leaves hold each destination's ranking key; every internal node holds the index of the winning leaf of its
/// subtree (or -1 when none is eligible). The overall winner is read at the root in O(1); a change to one
/// destination replays the matches on its path to the root, O(log N); a change to the list rebuilds it, O(N).
/// Storage is two flat arrays, allocated only when the list changes.
public struct TournamentTree<Policy: TournamentPolicy>: Sendable {
    @usableFromInline var keys: [Policy.Key]
    /// `winners[1]` is the root; the children of node k are 2k and 2k+1; leaf i is node `leafBase + i`.
    @usableFromInline var winners: [Int32]
    @usableFromInline var leafBase: Int

    public init(_ destinations: DestinationList) {
        keys = []
        winners = []
        leafBase = 1
        rebuild(destinations)
    }

    /// Rebuilds from the whole list (after a destination was added or removed: indices shifted).
    public mutating func rebuild(_ destinations: DestinationList) {
        let n = destinations.count
        var base = 1
        while base < n { base <<= 1 }
        leafBase = base
        keys = destinations.map { Policy.key(of: $0) }
        winners = [Int32](repeating: -1, count: 2 * base)
        for i in 0..<n where Policy.isEligible(keys[i]) { winners[base + i] = Int32(i) }
        var node = base - 1
        while node >= 1 {
            winners[node] = match(winners[2 * node], winners[2 * node + 1])
            node -= 1
        }
    }

    /// Replays the matches above destination `index` after its state changed.
    public mutating func update(at index: Int, _ destination: DestinationState) {
        let key = Policy.key(of: destination)
        keys[index] = key
        var node = leafBase + index
        winners[node] = Policy.isEligible(key) ? Int32(index) : -1
        node >>= 1
        while node >= 1 {
            winners[node] = match(winners[2 * node], winners[2 * node + 1])
            node >>= 1
        }
    }

    /// The winning destination's index, or `nil` when none is eligible.
    @inlinable
    public var winner: Int? {
        let w = winners[1]  // there are always at least two nodes: leafBase >= 1
        return w >= 0 ? Int(w) : nil
    }

    @inline(__always)
    private func match(_ left: Int32, _ right: Int32) -> Int32 {
        if left < 0 { return right }
        if right < 0 { return left }
        return Policy.rightWins(keys[Int(left)], keys[Int(right)]) ? right : left
    }
}

/// A scheduler whose pick is the winner of a tournament tree kept in step with the destination list.
public protocol TournamentScheduler: SchedulingAlgorithm {
    associatedtype Policy: TournamentPolicy
    var tree: TournamentTree<Policy> { get set }
    init(tree: TournamentTree<Policy>)
}

extension TournamentScheduler {
    public init(destinations: DestinationList, flags: ServiceFlags) {
        self.init(tree: TournamentTree(destinations))
    }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        tree.rebuild(destinations)
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        tree.rebuild(destinations)
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        tree.update(at: index, destinations[index])
    }

    public mutating func countersChanged(at index: Int, in destinations: DestinationList) {
        tree.update(at: index, destinations[index])
    }

    /// O(1): the root of the tree.
    @inlinable
    public func pick(in destinations: DestinationList) -> Int? { tree.winner }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        tree.winner
    }
}
