import IPVSCore

extension VerificationReport {
    /// The report as one JSON object, keys always present and always in this order (null where a value is absent),
    /// schema `swift-ipvs/verify-report/1`:
    ///
    ///     {
    ///       "schema": "swift-ipvs/verify-report/1",
    ///       "passed": bool,                      // something checked, no mismatch, no unexplained violation
    ///       "lifecycle": "inactive-until-end" | "active-until-end" | "tracked",
    ///       "startState": "replay-additions" | "fresh-over-list",
    ///       "firstTimeNs": int|null, "lastTimeNs": int|null,   // capture clock, ns since the Unix epoch
    ///       "summary": {"connections", "checked", "matched", "mismatched", "notForwarded", "noService",
    ///                   "agreement": number|null (matched / checked), "persistenceViolations",
    ///                   "unexplainedPersistenceViolations"},
    ///       "services": [{"service": "TCP 10.96.0.1:80" | "FWM 7", "protocol": "TCP"|"UDP"|"SCTP"|null,
    ///                     "address": string|null, "port": int|null, "firewallMark": int|null,
    ///                     "scheduler": string|null, "schedulerFlags": [string], "persistenceTimeout": int|null,
    ///                     "connections", "matched", "mismatched", "notForwarded", "agreement": number|null,
    ///                     "destinations": [{"address", "port", "weight": int|null, "inTable": bool,
    ///                                       "observed", "predicted", "expectedByWeight": number}]}],
    ///       "tableChanges": [{"timeNs", "beforeConnection", "kind": "add-service" | "edit-service" |
    ///                         "delete-service" | "add-destination" | "edit-destination" | "delete-destination",
    ///                         "service", "destination": {"address", "port"}|null, "weight": int|null,
    ///                         "description"}],
    ///       "persistenceViolations": [{"service", "connection" (index), "client", "clientNetwork",
    ///                                  "previous": {"address", "port"}, "previousTimeNs",
    ///                                  "current": {"address", "port"}, "timeNs", "explainedByModel": bool}],
    ///       "connections": [{"index", "timeNs", "protocol", "client", "clientPort", "virtualAddress",
    ///                        "virtualPort", "firewallMark": int|null, "service": string|null,
    ///                        "observed": {"address", "port": int|null}|null,
    ///                        "predicted": {"address", "port"}|null,
    ///                        "verdict": "match" | "mismatch" | "not-forwarded" | "no-service"}]
    ///     }
    ///
    /// Destinations are listed in the service's kernel list order at the end, then those deleted during the run.
    /// `connections` holds every connection, or only those that did not match when the verifier was told so.
    public func json() -> String {
        let w = JSONWriter()
        w.object {
            w.field("schema", VerificationReport.schema)
            w.field("passed", passed)
            w.field("lifecycle", lifecycle.name)
            w.field("startState", startState.rawValue)
            w.field("firstTimeNs", firstTime.map { Int($0.nanoseconds) })
            w.field("lastTimeNs", lastTime.map { Int($0.nanoseconds) })
            w.key("summary")
            w.object {
                w.field("connections", summary.connections)
                w.field("checked", summary.checked)
                w.field("matched", summary.matched)
                w.field("mismatched", summary.mismatched)
                w.field("notForwarded", summary.notForwarded)
                w.field("noService", summary.noService)
                w.field("agreement", summary.agreement)
                w.field("persistenceViolations", summary.persistenceViolations)
                w.field("unexplainedPersistenceViolations", summary.unexplainedPersistenceViolations)
            }
            w.key("services")
            w.array(services) { s in
                w.object {
                    w.field("service", s.key.description)
                    switch s.key {
                    case .address(let p, let a, let port):
                        w.field("protocol", p.description)
                        w.field("address", a.description)
                        w.field("port", Int(port))
                        w.field("firewallMark", Int?.none)
                    case .firewallMark(let m, _):
                        w.field("protocol", String?.none)
                        w.field("address", String?.none)
                        w.field("port", Int?.none)
                        w.field("firewallMark", Int(m))
                    }
                    w.field("scheduler", s.service?.scheduler.rawValue)
                    w.key("schedulerFlags")
                    w.array(s.service.map(Self.schedulerFlagNames) ?? []) { w.value($0) }
                    w.field("persistenceTimeout",
                            s.service.flatMap { $0.isPersistent ? Int($0.persistenceTimeout) : nil })
                    w.field("connections", s.connections)
                    w.field("matched", s.matched)
                    w.field("mismatched", s.mismatched)
                    w.field("notForwarded", s.notForwarded)
                    w.field("agreement", s.agreement)
                    w.key("destinations")
                    w.array(s.destinations) { d in
                        w.object {
                            w.field("address", d.destination.address.description)
                            w.field("port", Int(d.destination.port))
                            w.field("weight", d.weight.map { Int($0) })
                            w.field("inTable", d.inTable)
                            w.field("observed", d.observed)
                            w.field("predicted", d.predicted)
                            w.field("expectedByWeight", d.expectedByWeight)
                        }
                    }
                }
            }
            w.key("tableChanges")
            w.array(tableChanges) { c in
                w.object {
                    w.field("timeNs", Int(c.time.nanoseconds))
                    w.field("beforeConnection", c.beforeConnection)
                    w.field("kind", c.change.kind)
                    w.field("service", c.change.serviceKey.description)
                    var destination: DestinationKey? = nil
                    var weight: Int32? = nil
                    switch c.change {
                    case .addDestination(_, let r), .editDestination(_, let r):
                        destination = r.key
                        weight = r.weight
                    case .deleteDestination(_, let d):
                        destination = d
                    default:
                        break
                    }
                    w.key("destination")
                    w.destination(destination)
                    w.field("weight", weight.map { Int($0) })
                    w.field("description", c.change.description)
                }
            }
            w.key("persistenceViolations")
            w.array(persistenceViolations) { v in
                w.object {
                    w.field("service", v.service.description)
                    w.field("connection", v.connectionIndex)
                    w.field("client", v.client.description)
                    w.field("clientNetwork", v.clientNetwork.description)
                    w.key("previous")
                    w.destination(v.previous)
                    w.field("previousTimeNs", Int(v.previousTime.nanoseconds))
                    w.key("current")
                    w.destination(v.current)
                    w.field("timeNs", Int(v.time.nanoseconds))
                    w.field("explainedByModel", v.explainedByModel)
                }
            }
            w.key("connections")
            w.array(connections) { v in
                let c = v.connection
                w.object {
                    w.field("index", v.index)
                    w.field("timeNs", Int(c.firstSeen.nanoseconds))
                    w.field("protocol", c.transport.description)
                    w.field("client", c.client.description)
                    w.field("clientPort", Int(c.clientPort))
                    w.field("virtualAddress", c.virtualAddress.description)
                    w.field("virtualPort", Int(c.virtualPort))
                    w.field("firewallMark", c.firewallMark.map { Int($0) })
                    w.field("service", v.service?.description)
                    w.key("observed")
                    if let rs = c.realServer {
                        w.object {
                            w.field("address", rs.description)
                            w.field("port", c.realPort.map { Int($0) })
                        }
                    } else {
                        w.null()
                    }
                    w.key("predicted")
                    w.destination(v.predicted)
                    w.field("verdict", v.verdict.rawValue)
                }
            }
        }
        return w.text + "\n"
    }
}

/// ``IPVSJSONWriter`` behind a class, so that the closures that write nested values can write to it while it writes
/// the enclosing one.
final class JSONWriter {
    private var writer = IPVSJSONWriter()

    var text: String { writer.text }

    func object(_ body: () -> Void) {
        writer.beginObject()
        body()
        writer.endObject()
    }

    func array<S: Sequence>(_ items: S, _ body: (S.Element) -> Void) {
        writer.beginArray()
        for item in items { body(item) }
        writer.endArray()
    }

    func key(_ k: String) { writer.key(k) }

    func null() { writer.null() }

    func value(_ s: String) { writer.value(s) }

    func raw(_ s: String) { writer.number(s) }

    func field(_ k: String, _ v: String?) {
        key(k)
        if let v { value(v) } else { null() }
    }

    func field(_ k: String, _ v: Int?) {
        key(k)
        if let v { writer.value(Int64(v)) } else { null() }
    }

    func field(_ k: String, _ v: Bool) {
        key(k)
        writer.value(v)
    }

    /// A finite number with up to six decimals (trailing zeros dropped).
    func field(_ k: String, _ v: Double?) {
        key(k)
        guard let v, v.isFinite else { return null() }
        var s = VerificationReport.fixed(v, 6)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        raw(s)
    }

    func destination(_ d: DestinationKey?) {
        guard let d else { return null() }
        object {
            field("address", d.address.description)
            field("port", Int(d.port))
        }
    }
}
