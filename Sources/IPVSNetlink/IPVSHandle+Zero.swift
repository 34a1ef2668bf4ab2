import IPVSCore

extension IPVSHandle {
    /// IPVS_CMD_ZERO for one service (`ipvsadm -Z -t|-u|-f SERVICE`): its counters and those of its destinations
    /// go to 0 (ip_vs_ctl.c `ip_vs_zero_service`). ESRCH ("No such service") when the service is not there.
    /// Rates are estimates and decay on their own (ip_vs_est.c); zeroing resets the estimator too.
    public mutating func zero(_ service: VirtualService) throws(IPVSError) {
        _ = try perform(.zero(service), .zeroService)
    }

    /// IPVS_CMD_ZERO without a service (`ipvsadm -Z`): every service, every destination and the namespace's totals
    /// (ip_vs_ctl.c `ip_vs_zero_all`).
    public mutating func zeroAll() throws(IPVSError) {
        _ = try perform(.zero(nil), .zeroAll)
    }
}
