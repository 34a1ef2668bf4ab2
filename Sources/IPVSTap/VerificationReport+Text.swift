import IPVSCore

extension VerificationReport {
    /// The report for people: the summary, one table per service (each real server's weight, the connections the
    /// kernel and IPVSCore sent it, its share by weight), the table changes, the first `maximumListed` mismatches
    /// and persistence violations.
    public func text(maximumListed: Int = 20) -> String {
        var out = ""
        let s = summary
        out += "Verified \(s.connections) connection\(s.connections == 1 ? "" : "s"): \(s.matched) agree, "
            + "\(s.mismatched) disagree, \(s.notForwarded) not seen forwarded, \(s.noService) to no watched service"
        out += " — agreement \(s.agreement.map { Self.percent($0) } ?? "n/a")"
        out += passed ? " — PASS\n" : " — FAIL\n"
        out += "Assumption: \(lifecycle.explanation)\n"
        out += startState == .replayAdditions
            ? "Scheduler state: as left by adding each service's destinations one at a time, deepest first\n"
            : "Scheduler state: initialised over each service's finished list\n"
        if let first = firstTime, let last = lastTime {
            out += "Capture: \(Self.seconds(last.nanoseconds - min(last.nanoseconds, first.nanoseconds))) s\n"
        }
        for svc in services {
            out += "\n\(svc.key)"
            if let v = svc.service {
                out += " \(v.scheduler)"
                let flags = Self.schedulerFlagNames(v)
                if !flags.isEmpty { out += " (\(flags.joined(separator: ",")))" }
                if v.isPersistent { out += " persistent \(v.persistenceTimeout)" }
            } else {
                out += " (deleted)"
            }
            out += ": \(svc.connections) connections, \(svc.matched) agree, \(svc.mismatched) disagree"
            if svc.notForwarded > 0 { out += ", \(svc.notForwarded) not seen forwarded" }
            out += " (\(svc.agreement.map { Self.percent($0) } ?? "n/a"))\n"
            let header = ["Real server", "Weight", "Kernel", "IPVSCore", "By weight"]
            var rows = [header]
            for d in svc.destinations {
                rows.append([
                    d.destination.description + (d.inTable ? "" : " (deleted)"),
                    d.weight.map(String.init) ?? "-", String(d.observed), String(d.predicted),
                    Self.fixed(d.expectedByWeight, 1),
                ])
            }
            out += Self.table(rows, indent: "  ")
        }
        if !tableChanges.isEmpty {
            out += "\nTable changes:\n"
            for c in tableChanges {
                out += "  \(offset(c.time)) before connection #\(c.beforeConnection): \(c.change)\n"
            }
        }
        let bad = mismatches
        if !bad.isEmpty {
            out += "\nMismatches (\(bad.count)\(bad.count > maximumListed ? ", first \(maximumListed)" : "")):\n"
            for v in bad.prefix(maximumListed) {
                let c = v.connection
                out += "  #\(v.index) \(offset(c.firstSeen)) \(c.transport) \(Self.endpoint(c.client, c.clientPort)) → "
                    + "\(Self.endpoint(c.virtualAddress, c.virtualPort)): kernel "
                    + (c.realServer.map { Self.endpoint($0, c.realPort) } ?? "none")
                    + ", IPVSCore \(v.predicted?.description ?? "none")\n"
            }
        }
        if !persistenceViolations.isEmpty {
            out += "\nPersistence: \(persistenceViolations.count) client(s) moved within the timeout, "
                + "\(s.unexplainedPersistenceViolations) not explained by IPVSCore:\n"
            for v in persistenceViolations.prefix(maximumListed) {
                out += "  #\(v.connectionIndex) \(offset(v.time)) \(v.client) (\(v.clientNetwork)) on \(v.service): "
                    + "\(v.previous) at \(offset(v.previousTime)) → \(v.current)"
                    + (v.explainedByModel ? " (predicted by IPVSCore)" : " (VIOLATION)") + "\n"
            }
        }
        return out
    }

    /// "+1.234567 s" from the first connection.
    func offset(_ t: CaptureTime) -> String {
        let base = firstTime?.nanoseconds ?? 0
        if t.nanoseconds >= base { return "+" + Self.seconds(t.nanoseconds - base) + " s" }
        return "-" + Self.seconds(base - t.nanoseconds) + " s"
    }

    static func endpoint(_ a: IPAddress, _ port: UInt16?) -> String {
        guard let port else { return a.description }
        return DestinationKey(address: a, port: port).description
    }

    static func schedulerFlagNames(_ v: VirtualService) -> [String] {
        var names: [String] = []
        let prefix = v.scheduler == .mh ? "mh" : "sh"
        guard v.scheduler == .sh || v.scheduler == .mh else { return names }
        if v.flags.contains(.schedulerFlag1) { names.append("\(prefix)-fallback") }
        if v.flags.contains(.schedulerFlag2) { names.append("\(prefix)-port") }
        return names
    }

    /// Seconds with six decimals, from nanoseconds.
    static func seconds(_ ns: UInt64) -> String {
        let micros = (ns + 500) / 1000
        let frac = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }

    /// "99.95%".
    static func percent(_ x: Double) -> String { fixed(x * 100, 2) + "%" }

    /// `x` with `digits` decimals, without Foundation.
    static func fixed(_ x: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let negative = x < 0
        let n = UInt64((abs(x) * scale).rounded())
        let whole = n / UInt64(scale)
        var text = String(whole)
        if digits > 0 {
            let frac = String(n % UInt64(scale))
            text += "." + String(repeating: "0", count: digits - frac.count) + frac
        }
        return negative && n != 0 ? "-" + text : text
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ rows: [[String]], indent: String) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for r in rows {
            var line = indent
            for (i, cell) in r.enumerated() {
                line += cell
                if i < r.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }
}
