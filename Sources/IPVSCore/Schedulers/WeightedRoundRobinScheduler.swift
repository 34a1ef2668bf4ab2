/// wrr — net/netfilter/ipvs/ip_vs_wrr.c.
///
/// State (`struct ip_vs_wrr_mark`): `cl` the current destination or the head, `cw` the current weight, `mw` the
/// maximum weight reduced by `di - 1`, and `di` the gcd of the positive weights. A pick walks on from `cl` for a
/// non-overloaded destination with weight ≥ `cw`; each time it passes the head it lowers `cw` by `di`, wrapping to
/// `mw`; it gives up after a full last pass (`ip_vs_wrr_schedule`, with its `last_pass`/`restarted`/`stop` logic).
/// Any destination change resets `cl` to the head and recomputes `di` and `mw`, clamping `cw`
/// (`ip_vs_wrr_dest_changed`).
public struct WeightedRoundRobinScheduler: SchedulingAlgorithm {
    /// Index of the current destination, or -1 for the list head.
    public private(set) var current: Int
    public private(set) var currentWeight: Int32
    public private(set) var maxWeight: Int32
    public private(set) var step: Int32

    public init(destinations: DestinationList, flags: ServiceFlags) {
        current = -1
        step = Self.gcdWeight(destinations)
        maxWeight = Self.maxWeight(destinations) - (step - 1)
        currentWeight = maxWeight
    }

    /// `ip_vs_wrr_gcd_weight`: the gcd of the positive weights, or 1 if there are none.
    static func gcdWeight(_ destinations: DestinationList) -> Int32 {
        var g: Int32 = 0
        for d in destinations where d.weight > 0 {
            g = g > 0 ? gcd(d.weight, g) : d.weight
        }
        return g != 0 ? g : 1
    }

    /// `ip_vs_wrr_max_weight`: the largest weight (0 for none), overloaded destinations included.
    static func maxWeight(_ destinations: DestinationList) -> Int32 {
        var w: Int32 = 0
        for d in destinations where d.weight > w { w = d.weight }
        return w
    }

    static func gcd(_ a: Int32, _ b: Int32) -> Int32 {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    private mutating func destinationsChanged(_ destinations: DestinationList) {
        current = -1
        step = Self.gcdWeight(destinations)
        maxWeight = Self.maxWeight(destinations) - (step - 1)
        if currentWeight > maxWeight || currentWeight == 0 {
            currentWeight = maxWeight
        } else if step > 1 {
            currentWeight = (currentWeight / step) * step + 1
        }
    }

    public mutating func destinationAdded(at index: Int, in destinations: DestinationList) {
        destinationsChanged(destinations)
    }

    public mutating func destinationRemoved(_ removed: DestinationState, at index: Int,
                                            in destinations: DestinationList) {
        destinationsChanged(destinations)
    }

    public mutating func destinationUpdated(at index: Int, in destinations: DestinationList) {
        destinationsChanged(destinations)
    }

    public mutating func schedule(_ flow: Flow, in destinations: DestinationList, now: Timestamp) -> Int? {
        var dest = current
        if maxWeight == 0 { return nil }  // err_noavail: cl stays where it is
        let last = dest
        var stop = Int.min  // NULL
        var lastPass = false
        var restarted = false
        let n = destinations.count
        while true {
            var i = dest + 1
            while i < n {
                let d = destinations[i]
                if !d.overloaded && d.weight >= currentWeight {
                    current = i
                    return i
                }
                if i == stop {
                    current = i  // err_over
                    return nil
                }
                i += 1
            }
            dest = -1  // the walk ended on the head
            currentWeight -= step
            if currentWeight <= 0 {
                currentWeight = maxWeight
                if lastPass || last == -1 {
                    current = -1  // err_over
                    return nil
                }
                restarted = true
            }
            lastPass = currentWeight <= step
            if lastPass && restarted && last != -1 { stop = last }
        }
    }
}
