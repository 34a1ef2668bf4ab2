import Glibc
import IPVSCore

/// Keeps the kernel's IPVS table, or the part of it in a ``MirrorScope``, equal to a desired table.
///
/// A pass reads the kernel (one service dump, then one destination dump per owned service: the kernel dumps the
/// destinations of one service per request, ip_vs_ctl.c `ip_vs_genl_dump_dests`), plans the fewest requests with
/// ``MirrorPlanner`` and sends them as batches (``IPVSHandle/perform(batch:)``). It never flushes: the kernel keeps
/// deleted destinations on a trash list that every later add scans (ip_vs_ctl.c `ip_vs_trash_get_dest`), so a flush
/// and reload costs far more than the changes.
///
/// Passes are idempotent (a second pass with the same table sends nothing) and converge from any state, a pass
/// killed halfway included: nothing is remembered between passes, everything is read back. Draining destinations
/// are recognised in the kernel by weight 0 and not being desired.
///
/// Three sockets: one ``IPVSHandle`` for the service dump and the batches, and the two of an
/// ``IPVSDestinationReader``, between which the destination dumps are split, one on this thread and one on a second
/// (one socket runs one dump at a time, and the kernel answers one thread's dump step while the other decodes).
/// Not thread-safe: one pass at a time.
public final class KernelMirror {
    public let scope: MirrorScope
    var writer: IPVSHandle
    let reader: IPVSDestinationReader

    /// Opens the two sockets in the caller's namespace or in the one at `networkNamespace` (a path).
    public init(scope: MirrorScope, networkNamespace: String? = nil, timeout: Duration = .seconds(10)) throws(IPVSError)
    {
        self.scope = scope
        let writer = try IPVSHandle(networkNamespace: networkNamespace, timeout: timeout)
        let family = writer.familyID
        self.writer = writer
        self.reader = try IPVSDestinationReader(networkNamespace: networkNamespace, familyID: family, timeout: timeout)
    }

    /// Mutating netlink messages sent by this mirror so far.
    public var mutatingMessagesSent: Int { writer.mutatingMessagesSent }
    /// Read requests (dumps) sent by this mirror so far.
    public var readRequestsSent: Int {
        writer.readRequestsSent + reader.readRequestsSent
    }

    /// The owned part of the kernel's table: every service in scope with its destinations.
    ///
    /// The service dump is repeated until two agree (``IPVSHandle/consistentServices(attempts:)``). When services
    /// keep changing in other namespaces so that none agree, the read takes the union of the dumps: it lacks a
    /// service of ours only if every dump skipped it, and a service deleted meanwhile is left out (ESRCH).
    public func read() throws(IPVSError) -> [KernelService] {
        try read(lookingUp: []).table
    }

    /// As ``read()``; when no two service dumps agreed, each of `expected` (in scope) missing from every dump is
    /// looked up by key (IPVS_CMD_GET_SERVICE), so that none of them is missed. `disturbed` says that happened.
    func read(lookingUp expected: [MirroredService]) throws(IPVSError) -> (table: [KernelService], disturbed: Bool) {
        let scope = self.scope
        let (entries, confirmed) = try writer.consistentServices()
        var owned: [VirtualService] = Array(entries.lazy.map(\.service).filter { scope.contains($0.key) })
        if !confirmed {
            var listed = Set(owned.lazy.map(\.key))
            for wanted in expected where scope.contains(wanted.service.key) {
                guard listed.insert(wanted.service.key).inserted else { continue }
                do throws(IPVSError) {
                    owned.append(try writer.service(wanted.service).service)
                } catch where error.reason == .kernel(errno: ESRCH) {
                    // Not in the kernel.
                }
            }
        }
        let (dumped, error) = reader.destinations(of: owned, skippingVanished: true)
        if let error { throw error }
        var table: [KernelService] = []
        table.reserveCapacity(owned.count)
        for (service, destinations) in zip(owned, dumped) {
            // A service deleted meanwhile by someone else (ESRCH) is left out.
            if let destinations { table.append(KernelService(service, destinations: destinations)) }
        }
        return (table, !confirmed)
    }

    /// Dry run: the plan a pass would apply now, without applying it.
    public func plan(_ desired: [MirroredService]) throws(KernelMirrorError) -> MirrorPlan {
        try MirrorPlanner.validate(desired, scope: scope)
        let kernel: (table: [KernelService], disturbed: Bool)
        do { kernel = try read(lookingUp: desired) } catch { throw .read(error) }
        var plan = MirrorPlanner.plan(kernel: kernel.table, desired: desired, scope: scope)
        plan.readDisturbed = kernel.disturbed
        return plan
    }

    /// One pass: reads the kernel, plans, applies, and says what it did. Throws only when the desired table is
    /// refused or the kernel cannot be read (then nothing was changed); failed requests are in the report.
    @discardableResult
    public func apply(_ desired: [MirroredService]) throws(KernelMirrorError) -> MirrorReport {
        let reads = readRequestsSent
        let plan = try plan(desired)
        var report = apply(plan: plan)
        report.readRequests = readRequestsSent - reads
        return report
    }

    /// Applies a plan (from ``plan(_:)``, or part of one) as batches.
    public func apply(plan: MirrorPlan) -> MirrorReport {
        let reads = readRequestsSent
        let mutations = mutatingMessagesSent
        let result = writer.perform(batchOf: PlanMessages(plan))
        return MirrorReport(
            plan: plan, result: result, readRequests: readRequestsSent - reads,
            mutatingMessages: mutatingMessagesSent - mutations)
    }
}

/// What a pass did.
public struct MirrorReport: Sendable {
    /// The plan it applied.
    public var plan: MirrorPlan
    /// What became of each of the plan's requests (same order as `plan.steps`).
    public var result: IPVSBatchResult
    /// Read requests the pass sent: 2 service dumps (more if they disagree; then also one lookup per desired service
    /// missing from them, see ``MirrorPlan/readDisturbed``) + 1 destination dump per owned service.
    public var readRequests: Int
    /// Mutating messages the pass sent (one per step).
    public var mutatingMessages: Int

    /// Steps the kernel applied, per kind.
    public var applied: [MirrorStep.Kind: Int] {
        var counts = plan.counts
        for failure in result.failures { counts[plan.kind(at: failure.index), default: 0] -= 1 }
        for u in result.unconfirmed {
            for i in u.range { counts[plan.kind(at: i), default: 0] -= 1 }
        }
        if let n = result.notSent {
            for i in n.range { counts[plan.kind(at: i), default: 0] -= 1 }
        }
        return counts.filter { $0.value > 0 }
    }

    /// The steps the kernel refused, with their errors.
    public var failures: [(step: MirrorStep, error: IPVSError)] {
        result.failures.map { (MirrorStep(plan.kind(at: $0.index), $0.request), $0.error) }
    }

    /// True when every step was applied.
    public var converged: Bool { result.allApplied }
}

/// Runs `here` on this thread and `there` on a new one, and returns when both are done. Falls back to running
/// them one after the other when no thread can be made.
func inParallel(_ here: () -> Void, _ there: () -> Void) {
    final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    withoutActuallyEscaping(there) { there in
        let body = Unmanaged.passRetained(Body(there))
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, body.toOpaque())
        if status != 0 {
            body.release()
            here()
            there()
            return
        }
        here()
        pthread_join(thread, nil)
    }
}
