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
    // Scaling of our own table, 2 threads ÷ 1 thread (wall).
    for w in [Workload.lookup, .mixed] {
        for e in Set(ms.map(\.entries)).sorted() {
            if let one = find(.swift, w, e, 1), let two = find(.swift, w, e, 2) {
                print("")
                print("ConnectionTable \(w.label), \(entriesLabel(e)): 2 threads ÷ 1 thread = \(format(two.mopsWall / one.mopsWall, 2))× (wall)")
            }
        }
    }
}
