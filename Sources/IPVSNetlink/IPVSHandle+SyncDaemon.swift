import CIPVSNetlink

extension IPVSHandle {
    /// IPVS_CMD_NEW_DAEMON (`ipvsadm --start-daemon`). The interface must exist in the handle's namespace
    /// (ENODEV otherwise); one master and one backup at most (EEXIST: "Daemon has already run").
    public mutating func startDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError) {
        _ = try perform(.newDaemon(daemon), .startDaemon)
    }

    /// IPVS_CMD_DEL_DAEMON (`ipvsadm --stop-daemon`). ESRCH ("No daemon is running") when none has that role.
    public mutating func stopDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError) {
        _ = try perform(.deleteDaemon(role), .stopDaemon)
    }

    /// IPVS_CMD_GET_DAEMON dump (`ipvsadm -L --daemon`): the running daemons, master first (ip_vs_ctl.c
    /// `ip_vs_genl_dump_daemons`), with every field the kernel reports.
    public mutating func daemons() throws(IPVSError) -> [IPVSSyncDaemon] {
        try decodeAll(.dumpDaemons, .listDaemons) { (m) throws(IPVSCodecError) in try IPVSReplyDecoder.daemon(m) }
    }
}
