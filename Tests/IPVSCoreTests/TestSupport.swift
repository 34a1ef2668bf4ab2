@testable import IPVSCore

/// Shorthands for tests.
func v4(_ s: String) -> IPAddress { IPAddress(s)! }

func server(_ s: String, port: UInt16 = 80, weight: Int32 = 1, upper: UInt32 = 0, lower: UInt32 = 0) -> RealServer {
    RealServer(IPAddress(s)!, port: port, forwarding: .masquerade, weight: weight, upperThreshold: upper,
               lowerThreshold: lower)
}

func tcpService(_ scheduler: SchedulerKind, _ vip: String = "10.0.0.1", port: UInt16 = 80,
                flags: ServiceFlags = []) -> VirtualService {
    VirtualService(.address(.tcp, IPAddress(vip)!, port: port), scheduler: scheduler, flags: flags)
}

func flow(_ client: String, port: UInt16 = 40000, vip: String = "10.0.0.1", vport: UInt16 = 80) -> Flow {
    Flow(.tcp, from: IPAddress(client)!, port: port, to: IPAddress(vip)!, port: vport)
}

extension ServiceScheduler {
    /// The address of the destination the next pick chooses, or nil.
    mutating func next(_ f: Flow = flow("192.168.0.1"), now: Timestamp = .zero) -> String? {
        schedule(f, now: now).map { destinations[$0].server.address.description }
    }

    /// `count` picks in a row.
    mutating func picks(_ count: Int, _ f: Flow = flow("192.168.0.1")) -> [String] {
        (0..<count).map { _ in next(f) ?? "-" }
    }

    func key(_ address: String, port: UInt16 = 80) -> DestinationKey {
        DestinationKey(address: IPAddress(address)!, port: port)
    }
}

/// A small deterministic generator for tests (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(below n: Int) -> Int { Int(next() % UInt64(n)) }
}
