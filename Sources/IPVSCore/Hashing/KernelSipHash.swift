/// SipHash as the Linux kernel computes it (lib/siphash.c, include/linux/siphash.h), for the mh scheduler.
///
/// The kernel's `hsiphash()` is "HalfSipHash-1-3" only on 32-bit kernels. On a 64-bit kernel (`BITS_PER_LONG ==
/// 64`, the only kind we mirror) lib/siphash.c makes it plain SipHash-1-3 for speed: the key is two 64-bit words
/// (`hsiphash_key_t.key[2]` is `unsigned long[2]`), the state and rounds are SipHash's, and the 64-bit result is
/// returned as `u32`, i.e. truncated to its low 32 bits.
///
/// For a 4-byte input (all ip_vs_mh.c ever hashes: `hsiphash(&v, sizeof(v), key)` of an `unsigned int`), the one
/// and only message block is the final one: the four bytes as they lie in memory (little-endian on x86-64, so the
/// value itself), zero padding, and the length 4 in the top byte — `b = 4 << 56 | v`. That block is absorbed with
/// one round (c = 1), then `v2 ^= 0xff` and three finalisation rounds (d = 3): lib/siphash.c `hsiphash_1u32` and
/// `__hsiphash_aligned` / `__hsiphash_unaligned` with `HPREAMBLE`, `HSIPROUND = SIPROUND`, `HPOSTAMBLE`.
public enum KernelSipHash {
    /// A 128-bit SipHash key as its two little-endian 64-bit halves (`k0` = key bytes 0…7, `k1` = bytes 8…15): the
    /// kernel's `hsiphash_key_t.key[0]` and `key[1]` on a 64-bit kernel.
    public struct Key: Hashable, Sendable {
        public var k0: UInt64
        public var k1: UInt64

        @inlinable
        public init(k0: UInt64, k1: UInt64) {
            self.k0 = k0
            self.k1 = k1
        }

        /// The key from its 16 bytes, as the SipHash paper writes keys.
        public init(bytes: [UInt8]) {
            precondition(bytes.count == 16, "a SipHash key is 16 bytes")
            var k0: UInt64 = 0
            var k1: UInt64 = 0
            for i in (0..<8).reversed() {
                k0 = k0 << 8 | UInt64(bytes[i])
                k1 = k1 << 8 | UInt64(bytes[8 + i])
            }
            self.init(k0: k0, k1: k1)
        }
    }

    /// The four 64-bit words of SipHash state.
    @usableFromInline
    struct State {
        @usableFromInline var v0: UInt64
        @usableFromInline var v1: UInt64
        @usableFromInline var v2: UInt64
        @usableFromInline var v3: UInt64

        /// Initialisation with the constants "somepseudorandomlygeneratedbytes" (`PREAMBLE`).
        @inlinable @inline(__always)
        init(_ key: Key) {
            v0 = 0x736f_6d65_7073_6575 ^ key.k0
            v1 = 0x646f_7261_6e64_6f6d ^ key.k1
            v2 = 0x6c79_6765_6e65_7261 ^ key.k0
            v3 = 0x7465_6462_7974_6573 ^ key.k1
        }

        @inlinable @inline(__always)
        static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { x << n | x >> (64 - n) }

        /// One SipRound (`SIPROUND`).
        @inlinable @inline(__always)
        mutating func round() {
            v0 &+= v1
            v1 = State.rotl(v1, 13)
            v1 ^= v0
            v0 = State.rotl(v0, 32)
            v2 &+= v3
            v3 = State.rotl(v3, 16)
            v3 ^= v2
            v0 &+= v3
            v3 = State.rotl(v3, 21)
            v3 ^= v0
            v2 &+= v1
            v1 = State.rotl(v1, 17)
            v1 ^= v2
            v2 = State.rotl(v2, 32)
        }

        @inlinable
        mutating func absorb(_ m: UInt64, rounds: Int) {
            v3 ^= m
            for _ in 0..<rounds { round() }
            v0 ^= m
        }

        @inlinable
        mutating func finalize(rounds: Int) -> UInt64 {
            v2 ^= 0xff
            for _ in 0..<rounds { round() }
            return v0 ^ v1 ^ v2 ^ v3
        }
    }

    /// The kernel's `hsiphash(&value, 4, key)` on a 64-bit kernel: SipHash-1-3 of the four bytes of `value` in
    /// x86-64 memory order, truncated to 32 bits (lib/siphash.c `hsiphash_1u32`, `BITS_PER_LONG == 64` branch).
    @inlinable @inline(__always)
    public static func hsiphash(_ value: UInt32, key: Key) -> UInt32 {
        var s = State(key)
        // The final block: length 4 in the top byte, the four message bytes in the low ones. Rounds spelled out so
        // that the whole hash inlines into a scheduler's pick.
        let block = UInt64(4) << 56 | UInt64(value)
        s.v3 ^= block
        s.round()
        s.v0 ^= block
        s.v2 ^= 0xff
        s.round()
        s.round()
        s.round()
        return UInt32(truncatingIfNeeded: s.v0 ^ s.v1 ^ s.v2 ^ s.v3)
    }

    /// SipHash-c-d of `message` (the SipHash paper's general form): `compressionRounds` rounds per 8-byte block,
    /// `finalizationRounds` at the end. SipHash-2-4 is the paper's PRF; the kernel's 64-bit `hsiphash` is 1-3.
    public static func sipHash(
        _ message: some Collection<UInt8>, key: Key, compressionRounds: Int = 2, finalizationRounds: Int = 4
    ) -> UInt64 {
        var s = State(key)
        var word: UInt64 = 0
        var filled = 0
        for byte in message {
            word |= UInt64(byte) << (8 * UInt64(filled))
            filled += 1
            if filled == 8 {
                s.absorb(word, rounds: compressionRounds)
                word = 0
                filled = 0
            }
        }
        // The last block: the remaining 0…7 bytes, zero padding, and the message length (mod 256) in the top byte.
        word |= UInt64(truncatingIfNeeded: message.count) << 56
        s.absorb(word, rounds: compressionRounds)
        return s.finalize(rounds: finalizationRounds)
    }
}
