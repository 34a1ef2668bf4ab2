/// Why a ``MaglevTable`` cannot be built.
public enum MaglevTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The size is not a prime number. Maglev needs a prime size so that every skip in 1…M−1 is coprime with it
    /// and each backend's preference list is a permutation of all slots.
    case sizeNotPrime(Int)
    /// The size is below 2 or above ``MaglevTable/maximumSize``.
    case sizeOutOfRange(Int)
    /// No backend has a positive weight, so there is nothing to fill the table with.
    case noWeightedBackend
    /// More backends with a positive weight than slots: some could get none.
    case tooManyBackends(count: Int, size: Int)
    /// Two backends share a key, so slots could not be told apart between tables.
    case duplicateKey(UInt64)

    public var description: String {
        switch self {
        case .sizeNotPrime(let m):
            return "Maglev table size \(m) is not prime (use a prime such as 4093 or 65537)"
        case .sizeOutOfRange(let m):
            return "Maglev table size \(m) is out of range (2…\(MaglevTable.maximumSize))"
        case .noWeightedBackend:
            return "a Maglev table needs at least one backend with a positive weight"
        case .tooManyBackends(let n, let m):
            return "\(n) weighted backends do not fit a Maglev table of \(m) slots "
                + "(the size must be at least the count)"
        case .duplicateKey(let k):
            return "two backends share the key 0x\(String(k, radix: 16))"
        }
    }
}
