/// Virtual-service flags, with the kernel's bit values (`IP_VS_SVC_F_*` in include/uapi/linux/ip_vs.h).
public struct ServiceFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IP_VS_SVC_F_PERSISTENT`: ClientIP affinity through connection templates.
    public static let persistent = ServiceFlags(rawValue: 0x0001)
    /// `IP_VS_SVC_F_HASHED`: set by the kernel on every live service; ignored on input.
    public static let hashed = ServiceFlags(rawValue: 0x0002)
    /// `IP_VS_SVC_F_ONEPACKET`: one-packet scheduling (UDP and firewall-mark services).
    public static let onePacket = ServiceFlags(rawValue: 0x0004)
    /// `IP_VS_SVC_F_SCHED1`…`3`: scheduler-specific flags.
    public static let schedulerFlag1 = ServiceFlags(rawValue: 0x0008)
    public static let schedulerFlag2 = ServiceFlags(rawValue: 0x0010)
    public static let schedulerFlag3 = ServiceFlags(rawValue: 0x0020)

    /// `IP_VS_SVC_F_SCHED_SH_FALLBACK`: sh tries other buckets when the hashed server is unavailable.
    public static let shFallback = schedulerFlag1
    /// `IP_VS_SVC_F_SCHED_SH_PORT`: sh hashes the source port too.
    public static let shPort = schedulerFlag2
    /// `IP_VS_SVC_F_SCHED_MH_FALLBACK`: mh tries other table slots when the hashed server is unavailable.
    public static let mhFallback = schedulerFlag1
    /// `IP_VS_SVC_F_SCHED_MH_PORT`: mh hashes the source port too.
    public static let mhPort = schedulerFlag2

    public static let schedulerFlags: ServiceFlags = [.schedulerFlag1, .schedulerFlag2, .schedulerFlag3]
}
