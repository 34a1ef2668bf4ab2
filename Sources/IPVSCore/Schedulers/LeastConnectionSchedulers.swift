// The kernel's least-load schedulers, each a tournament over the destination list (see TournamentTree.swift).

/// Ranking key shared by the least-load policies: the overhead the kernel computes, the weight, and eligibility.
public struct LoadKey: Sendable, Hashable {
    public var overhead: Int64
    public var weight: Int64
    public var eligible: Bool
    /// nq only: the destination has no active connection.
    public var idle: Bool

    /// The kernel's weighted comparison `loh * dw > doh * lw` (64-bit): `other`, later in the list, has a strictly
    /// lower overhead per weight than `self` (wlc, sed, nq).
    @inline(__always)
    func isBeatenByLowerRatio(_ other: LoadKey) -> Bool {
        overhead &* other.weight > other.overhead &* weight
    }
}

/// lc — net/netfilter/ipvs/ip_vs_lc.c `ip_vs_lc_schedule`: skips overloaded and weight-0 destinations and takes
/// the lowest `ip_vs_dest_conn_overhead` (`(active << 8) + total`, i.e. active × 257 + inactive), the first on a
/// tie (`doh < loh`).
public struct LeastConnectionScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: d.connectionOverhead, weight: Int64(d.weight), eligible: d.isSchedulable, idle: false)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool { r.overhead < l.overhead }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}

/// wlc — ip_vs_wlc.c `ip_vs_wlc_schedule`: the lowest overhead/weight among non-overloaded destinations with a
/// positive weight, compared as `loh * dw > doh * lw` in 64 bits; the first on a tie. (The kernel's second stage
/// does not skip weight 0, but a weight-0 destination can never compare strictly better, so eligibility is the
/// same.)
public struct WeightedLeastConnectionScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: d.connectionOverhead, weight: Int64(d.weight), eligible: d.isSchedulable, idle: false)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool { l.isBeatenByLowerRatio(r) }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}

/// sed — ip_vs_sed.c `ip_vs_sed_schedule`: as wlc, with the overhead `activeconns + 1` (`ip_vs_sed_dest_overhead`).
public struct ShortestExpectedDelayScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: Int64(d.activeConnections) + 1, weight: Int64(d.weight), eligible: d.isSchedulable,
                    idle: false)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool { l.isBeatenByLowerRatio(r) }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}

/// nq — ip_vs_nq.c `ip_vs_nq_schedule`: the first eligible destination with no active connection, if any
/// ("return the server directly if it is idle"); otherwise the sed choice (`activeconns + 1` over weight).
public struct NeverQueueScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: Int64(d.activeConnections) + 1, weight: Int64(d.weight), eligible: d.isSchedulable,
                    idle: d.activeConnections == 0)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool {
            if l.idle { return false }
            if r.idle { return true }
            return l.isBeatenByLowerRatio(r)
        }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}

/// fo — ip_vs_fo.c `ip_vs_fo_schedule`: the non-overloaded destination with the highest weight (above 0), the
/// first on a tie.
public struct WeightedFailoverScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: 0, weight: Int64(d.weight), eligible: d.isSchedulable, idle: false)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool { r.weight > l.weight }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}

/// ovf — ip_vs_ovf.c `ip_vs_ovf_schedule`: among non-overloaded destinations with a positive weight whose active
/// connections do not exceed their weight (`activeconns > w` disqualifies), the highest weight, the first on a tie.
public struct WeightedOverflowScheduler: TournamentScheduler {
    public enum Policy: TournamentPolicy {
        public static func key(of d: DestinationState) -> LoadKey {
            LoadKey(overhead: Int64(d.activeConnections), weight: Int64(d.weight),
                    eligible: d.isSchedulable && d.activeConnections <= d.weight, idle: false)
        }
        public static func isEligible(_ k: LoadKey) -> Bool { k.eligible }
        public static func rightWins(_ l: LoadKey, _ r: LoadKey) -> Bool { r.weight > l.weight }
    }
    public var tree: TournamentTree<Policy>
    public init(tree: TournamentTree<Policy>) { self.tree = tree }
}
