import IPVSCore

/// What the verifier concluded about one connection.
public enum Verdict: String, Hashable, Sendable, CaseIterable {
    /// The kernel forwarded it to the destination IPVSCore predicted.
    case match
    /// The kernel forwarded it elsewhere, or IPVSCore predicted no destination (or one the kernel did not use).
    case mismatch
    /// The capture never saw it leave the director (`ObservedConnection.realServer` is nil): not checked. IPVSCore's
    /// choice is still bound in the model, as the kernel presumably scheduled it.
    case notForwarded = "not-forwarded"
    /// No service of the verifier's table matches it: ignored.
    case noService = "no-service"
}

/// One connection's verdict.
public struct ConnectionVerdict: Hashable, Sendable {
    /// Its position among the connections observed (from 0), in capture order.
    public var index: Int
    public var connection: ObservedConnection
    public var service: ServiceKey?
    /// IPVSCore's choice; nil when it schedules none.
    public var predicted: DestinationKey?
    public var verdict: Verdict
}

/// The same client (persistence network) sent to a different real server within the persistence timeout.
public struct PersistenceViolation: Hashable, Sendable {
    public var service: ServiceKey
    public var connectionIndex: Int
    public var client: IPAddress
    /// The client address masked as the template key holds it.
    public var clientNetwork: IPAddress
    public var previous: DestinationKey
    public var previousTime: CaptureTime
    public var current: DestinationKey
    public var time: CaptureTime
    /// IPVSCore predicted the move too (its template's destination was deleted, or quiesced with
    /// expire_quiescent_template, or the template expired): the kernel did what it should.
    public var explainedByModel: Bool
}

/// A table change as the verifier applied it.
public struct AppliedTableChange: Hashable, Sendable {
    public var time: CaptureTime
    public var change: TableChange
    /// How many connections had been observed before it.
    public var beforeConnection: Int
}

/// The verifier's conclusions: a summary, per-service distributions, the table changes, persistence violations and
/// per-connection verdicts. `text()` renders it for people, `json()` for programs (schema `schema`, documented at
/// `json()`).
public struct VerificationReport: Sendable {
    /// The JSON report's schema identifier; a change that breaks readers gets a new number.
    public static let schema = "swift-ipvs/verify-report/1"

    public struct Summary: Hashable, Sendable {
        public var connections = 0
        public var matched = 0
        public var mismatched = 0
        public var notForwarded = 0
        public var noService = 0
        public var persistenceViolations = 0
        public var unexplainedPersistenceViolations = 0

        /// Connections whose destination the capture saw: matched + mismatched.
        public var checked: Int { matched + mismatched }
        /// matched / checked, nil when nothing was checked.
        public var agreement: Double? { checked == 0 ? nil : Double(matched) / Double(checked) }
    }

    public struct DestinationRow: Hashable, Sendable {
        public var destination: DestinationKey
        /// Its weight at the end (nil once deleted from the service).
        public var weight: Int32?
        /// Still in the service's list at the end.
        public var inTable: Bool
        /// Connections the kernel sent it.
        public var observed: Int
        /// Connections IPVSCore sent it.
        public var predicted: Int
        /// Its share by weight, summed over the service's connections (the weights at each connection's time).
        public var expectedByWeight: Double
    }

    public struct ServiceReport: Hashable, Sendable {
        public var key: ServiceKey
        /// Its configuration at the end; nil when deleted during the run.
        public var service: VirtualService?
        public var connections: Int
        public var matched: Int
        public var mismatched: Int
        public var notForwarded: Int
        public var destinations: [DestinationRow]

        public var agreement: Double? {
            matched + mismatched == 0 ? nil : Double(matched) / Double(matched + mismatched)
        }
    }

    public var lifecycle: ConnectionLifecycle
    public var startState: SchedulerStartState
    public var firstTime: CaptureTime?
    public var lastTime: CaptureTime?
    public var summary: Summary
    public var services: [ServiceReport]
    public var tableChanges: [AppliedTableChange]
    /// Every connection's verdict, or only those that did not match (`VerifierOptions.recordEveryConnection`).
    public var connections: [ConnectionVerdict]
    public var persistenceViolations: [PersistenceViolation]

    /// True when something was checked, every checked connection matched, and no persistence violation is left
    /// unexplained.
    public var passed: Bool {
        summary.checked > 0 && summary.mismatched == 0 && summary.unexplainedPersistenceViolations == 0
    }

    public var mismatches: [ConnectionVerdict] { connections.filter { $0.verdict == .mismatch } }
}
