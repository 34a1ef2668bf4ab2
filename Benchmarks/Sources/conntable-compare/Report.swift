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
        let refs = [Implementation.lfht, .ck, .flat].map { find($0, w, e, t) }
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
        print("| \(w.label) | \(entriesLabel(e)) | \(t) | \(cell(s)) | " + refs.map(cell).joined(separator: " | ")
            + " | " + ratios.joined(separator: " | ") + " |")
    }
    // The issue's targets, in wall and in CPU time.
    // For 2 threads ÷ 1 thread, the CPU column is 2 × (CPU rate with 2 threads ÷ with 1): the scaling the table would
    // show if each thread had a CPU of its own the whole time.
    func target(_ label: String, _ a: Measurement?, _ b: Measurement?, atLeast: Double, cpuScale: Double = 1) {
        guard let a, let b else { return }
        let wall = a.mopsWall / b.mopsWall, cpu = cpuScale * a.mopsCPU / b.mopsCPU
        func verdict(_ x: Double) -> String { x >= atLeast ? "met" : "missed" }
        print("| \(label) | ≥ \(format(atLeast, 1))× | \(format(wall, 2))× (\(verdict(wall))) | \(format(cpu, 2))× (\(verdict(cpu))) |")
    }
    let m = 1_000_000
    print("")
    print("| target | wanted | wall | CPU |")
    print("| --- | ---: | ---: | ---: |")
    target("lookup hits, 1 M, 1 thread ÷ cds_lfht", find(.swift, .lookup, m, 1), find(.lfht, .lookup, m, 1), atLeast: 8)
    target("lookup hits, 1 M, 1 thread ÷ flat C", find(.swift, .lookup, m, 1), find(.flat, .lookup, m, 1), atLeast: 0.6)
    for e in Set(ms.map(\.entries)).sorted() {
        target("lookup hits, \(entriesLabel(e)), 2 threads ÷ 1 thread", find(.swift, .lookup, e, 2), find(.swift, .lookup, e, 1), atLeast: 1.8,
               cpuScale: 2)
    }
    target("mixed 90/5/5, 1 M, 2 threads ÷ cds_lfht", find(.swift, .mixed, m, 2), find(.lfht, .mixed, m, 2), atLeast: 5)
}
