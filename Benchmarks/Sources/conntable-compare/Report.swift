// The Markdown table for the closing note: one row per (workload, entries, threads), our figures and the ratios.
func printTable(_ ms: [Measurement]) {
    func find(_ i: Implementation, _ w: Workload, _ e: Int, _ t: Int) -> Measurement? {
        ms.first { $0.implementation == i && $0.workload == w && $0.entries == e && $0.threads == t }
    }
    func ratio(_ a: Measurement?, _ b: Measurement?, _ key: KeyPath<Measurement, Double>) -> String {
        guard let a, let b else { return "–" }
        return format(a[keyPath: key] / b[keyPath: key], 2) + "×"
    }
    func cell(_ m: Measurement?) -> String {
        guard let m else { return "–" }
        return "\(format(m.mopsWall, 1)) / \(format(m.mopsCPU, 1))"
    }
    func entriesLabel(_ e: Int) -> String {
        e % 1_000_000 == 0 ? "\(e / 1_000_000) M" : e % 1000 == 0 ? "\(e / 1000) K" : "\(e)"
    }
    print("")
    print("Mops/s: wall / thread-CPU (median of passes); ratios: ConnectionTable ÷ reference, wall (CPU).")
    print("")
    print("| workload | entries | threads | ConnectionTable | cds_lfht | ck_ht | flat C | ÷ cds_lfht | ÷ ck_ht | ÷ flat C |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    var keys: [(Workload, Int, Int)] = []
    for m in ms where !keys.contains(where: { $0 == (m.workload, m.entries, m.threads) }) {
        keys.append((m.workload, m.entries, m.threads))
    }
    keys.sort { ($0.1, Workload.allCases.firstIndex(of: $0.0)!, $0.2) < ($1.1, Workload.allCases.firstIndex(of: $1.0)!, $1.2) }
    for (w, e, t) in keys {
        let s = find(.swift, w, e, t)
        // Flat C has no multi-thread writes: for mixed on T ≥ 2 threads its column shows the per-thread-tables
        // ceiling (marked †).
        let split = find(.flatSplit, w, e, t)
        let refs = [Implementation.lfht, .ck, .flat].map { find($0, w, e, t) ?? ($0 == .flat ? split : nil) }
        if w == .balancerNew || w == .balancerExisting {
            let base = find(.swift, w == .balancerNew ? .insert : .lookup, e, t)
            let note = base.map { "\(format(s!.mopsWall / $0.mopsWall, 2))× ConnectionTable \(w == .balancerNew ? "insert" : "lookup")" } ?? ""
            print("| \(w.label) | \(entriesLabel(e)) | \(t) | \(cell(s)) | – | – | – | \(note) | | |")
            continue
        }
        let ratios = refs.map { r in
            guard s != nil, r != nil else { return "–" }
            return "\(ratio(s, r, \.mopsWall)) (\(ratio(s, r, \.mopsCPU)))"
        }
        let cells = refs.map { r in cell(r) + (r != nil && r?.implementation == .flatSplit ? " †" : "") }
        print("| \(w.label) | \(entriesLabel(e)) | \(t) | \(cell(s)) | " + cells.joined(separator: " | ")
            + " | " + ratios.joined(separator: " | ") + " |")
    }
    if ms.contains(where: { $0.implementation == .flatSplit }) {
        print("")
        print("† flat C on T ≥ 2 threads with writes: T independent flat tables of capacity / T slots, thread t alone on")
        print("table t holding exactly the keys it owns (`flat-split`): the idealised ceiling, no sharing at all.")
    }
    // Batched (bursts of 16 keys): ours and flat C's, with the ratios to the single-key references (cds_lfht and
    // ck_ht have no bulk interface: a caller cannot prefetch their buckets or nodes) and to the batched flat C.
    let batchedKeys = keys.filter { k in find(.swiftBatch, k.0, k.1, k.2) != nil || find(.flatBatch, k.0, k.1, k.2) != nil }
    if !batchedKeys.isEmpty {
        print("")
        print("Batched: bursts of 16 keys (ConnectionTable `lookup(_:now:into:)`, or `prefetch(_:)` then one operation at a")
        print("time; flat C: `__builtin_prefetch` of the burst's home slots, then one operation at a time). cds_lfht and")
        print("ck_ht have no bulk interface: their columns are their single-key figures from the table above.")
        print("")
        print("| workload | entries | threads | ConnectionTable batched | flat C batched | ÷ cds_lfht | ÷ ck_ht | ÷ flat C batched | ÷ flat C (single) | ÷ ConnectionTable (single) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (w, e, t) in batchedKeys {
            let s = find(.swiftBatch, w, e, t)
            let refs = [find(.lfht, w, e, t), find(.ck, w, e, t), find(.flatBatch, w, e, t) ?? find(.flatSplitBatch, w, e, t),
                        find(.flat, w, e, t) ?? find(.flatSplit, w, e, t), find(.swift, w, e, t)]
            let ratios = refs.map { r in
                guard s != nil, r != nil else { return "–" }
                return "\(ratio(s, r, \.mopsWall)) (\(ratio(s, r, \.mopsCPU)))"
            }
            let flatBatched = find(.flatBatch, w, e, t) ?? find(.flatSplitBatch, w, e, t)
            let mark = flatBatched?.implementation == .flatSplitBatch ? " †" : ""
            print("| \(w.label) | \(entriesLabel(e)) | \(t) | \(cell(s)) | \(cell(flatBatched))\(mark) | "
                + ratios.joined(separator: " | ") + " |")
        }
    }
    // The issue's targets, in wall and in CPU time.
    // For 2 threads ÷ 1 thread, the CPU column is 2 × (CPU rate with 2 threads ÷ with 1): the scaling the table would
    // show if each thread had a CPU of its own the whole time.
    func target(_ label: String, _ a: Measurement?, _ b: Measurement?, atLeast: Double, cpuScale: Double = 1) {
        guard let a, let b else { return }
        let wall = a.mopsWall / b.mopsWall, cpu = cpuScale * a.mopsCPU / b.mopsCPU
        // atLeast 0: a figure for the argument, not a target.
        func verdict(_ x: Double) -> String { atLeast == 0 ? "" : x >= atLeast ? " (met)" : " (missed)" }
        let share = "\(Int((a.cpuShare * 100).rounded())) % / \(Int((b.cpuShare * 100).rounded())) %"
        let wanted = atLeast == 0 ? "–" : "≥ \(format(atLeast, 1))×"
        print("| \(label) | \(wanted) | \(format(wall, 2))×\(verdict(wall)) | \(format(cpu, 2))×\(verdict(cpu)) | \(share) |")
    }
    let m = 1_000_000
    print("")
    print("The CPU column of a 2-thread ÷ 1-thread row is 2 × (CPU rate with 2 threads ÷ with 1): the scaling if each thread")
    print("had a CPU of its own all the time. CPU share: thread-CPU time ÷ (wall time × threads) of the two measurements")
    print("compared — well under 100 % means other processes held the CPUs, and the wall ratio measures the load.")
    print("")
    print("| target | wanted | wall | CPU | CPU share |")
    print("| --- | ---: | ---: | ---: | ---: |")
    target("lookup hits, 1 M, 1 thread ÷ cds_lfht", find(.swift, .lookup, m, 1), find(.lfht, .lookup, m, 1), atLeast: 8)
    target("lookup hits, 1 M, 1 thread ÷ flat C", find(.swift, .lookup, m, 1), find(.flat, .lookup, m, 1), atLeast: 0.6)
    // Not a target: the unsynchronised flat C table ÷ cds_lfht, one key at a time — the most any table with inline
    // entries can show against cds_lfht in this loop (if it is under 8, the first target is out of reach).
    target("(ceiling) flat C ÷ cds_lfht, lookup hits, 1 M, 1 thread", find(.flat, .lookup, m, 1), find(.lfht, .lookup, m, 1), atLeast: 8)
    for e in Set(ms.map(\.entries)).sorted() {
        target("lookup hits, \(entriesLabel(e)), 2 threads ÷ 1 thread", find(.swift, .lookup, e, 2), find(.swift, .lookup, e, 1), atLeast: 1.8,
               cpuScale: 2)
    }
    target("mixed 90/5/5, 1 M, 2 threads ÷ cds_lfht", find(.swift, .mixed, m, 2), find(.lfht, .mixed, m, 2), atLeast: 5)
    target("batched lookup hits, 1 M, 1 thread ÷ cds_lfht", find(.swiftBatch, .lookup, m, 1), find(.lfht, .lookup, m, 1), atLeast: 8)
    target("(ceiling) flat C batched ÷ cds_lfht, lookup hits, 1 M, 1 thread", find(.flatBatch, .lookup, m, 1), find(.lfht, .lookup, m, 1), atLeast: 8)
    target("batched lookup hits, 1 M, 1 thread ÷ flat C batched", find(.swiftBatch, .lookup, m, 1), find(.flatBatch, .lookup, m, 1), atLeast: 0.6)
    for e in Set(ms.map(\.entries)).sorted() {
        target("batched lookup hits, \(entriesLabel(e)), 2 threads ÷ 1 thread", find(.swiftBatch, .lookup, e, 2),
               find(.swiftBatch, .lookup, e, 1), atLeast: 1.8, cpuScale: 2)
    }
    target("batched mixed 90/5/5, 1 M, 2 threads ÷ cds_lfht", find(.swiftBatch, .mixed, m, 2), find(.lfht, .mixed, m, 2), atLeast: 5)
    // Not targets: the mixed ceilings. Flat C on one thread ÷ cds_lfht on two, in CPU time per thread (what each of
    // two perfectly independent flat tables would do per CPU second); and the idealised 2-thread ceiling measured
    // as such: two flat tables of half the capacity, one per thread, each holding its thread's keys.
    target("(ceiling) flat C 1 thread ÷ cds_lfht 2 threads, mixed, 1 M", find(.flat, .mixed, m, 1), find(.lfht, .mixed, m, 2), atLeast: 5)
    target("(ceiling) flat C per-thread tables ÷ cds_lfht, mixed, 1 M, 2 threads", find(.flatSplit, .mixed, m, 2), find(.lfht, .mixed, m, 2), atLeast: 5)
    target("(ceiling) flat C per-thread tables batched ÷ cds_lfht, mixed, 1 M, 2 threads", find(.flatSplitBatch, .mixed, m, 2), find(.lfht, .mixed, m, 2), atLeast: 5)
    target("mixed 90/5/5, 1 M, 2 threads ÷ flat C per-thread tables", find(.swift, .mixed, m, 2), find(.flatSplit, .mixed, m, 2), atLeast: 0)
    target("batched mixed 90/5/5, 1 M, 2 threads ÷ flat C per-thread tables batched", find(.swiftBatch, .mixed, m, 2), find(.flatSplitBatch, .mixed, m, 2), atLeast: 0)
}
