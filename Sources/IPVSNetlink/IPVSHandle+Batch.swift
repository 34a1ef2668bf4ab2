import CIPVSNetlink

extension IPVSRequest {
    /// A GET command or a dump: reads the kernel's tables without changing them (ip_vs_ctl.c: the GET commands
    /// go to `ip_vs_genl_dump_*` or `ip_vs_genl_get_cmd`, every other one to `ip_vs_genl_set_cmd` or
    /// `ip_vs_genl_set_daemon`).
    public var isRead: Bool {
        if isDump { return true }
        switch Int(command) {
        case IPVS_CMD_GET_SERVICE, IPVS_CMD_GET_DEST, IPVS_CMD_GET_DAEMON, IPVS_CMD_GET_CONFIG, IPVS_CMD_GET_INFO:
            return true
        default:
            return false
        }
    }
}
