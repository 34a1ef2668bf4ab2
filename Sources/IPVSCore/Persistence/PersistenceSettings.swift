/// The kernel sysctls that change how persistence templates behave.
public struct PersistenceSettings: Hashable, Sendable {
    /// `net.ipv4.vs.expire_quiescent_template` (default 0): when set, a template whose destination has weight 0 is
    /// invalidated on its next use and the client is scheduled afresh (ip_vs_conn.c `expire_quiescent_template`,
    /// called from `ip_vs_check_template`). When clear, a quiesced destination keeps its persistent clients.
    public var expireQuiescentTemplate: Bool

    public init(expireQuiescentTemplate: Bool = false) {
        self.expireQuiescentTemplate = expireQuiescentTemplate
    }
}
