/// The hash functions of ``MaglevTable``: a 64-bit mix for flows and backend keys, the two independent hashes a
/// backend's permutation is derived from, and a byte-string hash for backends named by bytes.
///
/// All of them are built on the SplitMix64 output function (Steele, Lea and Flood, "Fast Splittable Pseudorandom
/// Number Generators", OOPSLA 2014): a bijection on 64-bit words whose every output bit depends on every input bit.
/// The C reference in Benchmarks/Sources/CMaglevReference implements exactly these functions, so both build the
/// same table.
public enum MaglevHash {
    /// SplitMix64's increment, ⌊2⁶⁴/φ⌋: consecutive seeds `k + γ`, `k + 2γ` give independent outputs.
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The SplitMix64 output function: a fast, bijective 64-bit mix. Hash a flow's identity with it before
    /// ``MaglevTable/lookup(_:)``, which needs all 64 bits well distributed.
    @inlinable
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash a backend's offset comes from: the first output of a SplitMix64 generator seeded with its key.
    @inlinable
    public static func offsetHash(_ key: UInt64) -> UInt64 { mix(key &+ gamma) }

    /// The hash a backend's skip comes from: the second output of the same generator, independent of the first.
    @inlinable
    public static func skipHash(_ key: UInt64) -> UInt64 { mix(key &+ gamma &* 2) }

    /// A 64-bit key for a backend named by bytes (a host name, an address in wire form…).
    ///
    /// The bytes are taken eight at a time as little-endian words, each folded into the state through `mix`; the
    /// length goes in last so that names differing only by trailing zero bytes get different keys.
    public static func key(bytes: some Sequence<UInt8>) -> UInt64 {
        var state: UInt64 = gamma
        var word: UInt64 = 0
        var count: UInt64 = 0
        for byte in bytes {
            word |= UInt64(byte) << ((count & 7) &* 8)
            count &+= 1
            if count & 7 == 0 {
                state = mix(state ^ word)
                word = 0
            }
        }
        if count & 7 != 0 { state = mix(state ^ word) }
        return mix(state ^ count)
    }

    /// A 64-bit key for a backend named by a string: `key(bytes:)` of its UTF-8 form.
    public static func key(_ name: String) -> UInt64 { key(bytes: name.utf8) }
}
