import CIPVSNetlink
import IPVSCore

/// A connection synchronisation daemon of the kernel's IPVS (`ipvsadm --start-daemon`): a kernel thread that
/// multicasts connection state to backups (master) or receives it (backup). One master and one backup at most per
/// network namespace (ip_vs_sync.c `start_sync_thread`).
///
/// Requests leave an optional field out when it is nil, and the kernel then picks its default (224.0.0.81, port
/// 8848, TTL 1, a message length from the interface's MTU). Replies (IPVS_CMD_GET_DAEMON, ip_vs_ctl.c
/// `ip_vs_genl_fill_daemon`) carry every field, defaults included.
public struct IPVSSyncDaemon: Hashable, Sendable {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    public enum Role: UInt32, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        case master = 1
        case backup = 2

        /// As ipvsadm names it: "master", "backup".
        public var description: String { self == .master ? "master" : "backup" }
    }

    public var role: Role
    /// The interface the daemon sends or listens on (IPVS_DAEMON_ATTR_MCAST_IFN); at most 15 bytes.
    public var interface: String
    /// The sync id (ipvsadm `--syncid`, 0-255): a backup keeps only the connections of masters with its id.
    public var syncID: UInt8
    /// The largest sync message payload, in bytes (`--sync-maxlen`).
    public var maximumMessageLength: UInt16?
    /// The multicast group, IPv4 or IPv6 (`--mcast-group`); it must be a multicast address.
    public var multicastGroup: IPAddress?
    /// The UDP port (`--mcast-port`).
    public var multicastPort: UInt16?
    /// The multicast TTL (`--mcast-ttl`, 1-255).
    public var multicastTTL: UInt8?

    public init(
        _ role: Role, interface: String, syncID: UInt8 = 0, maximumMessageLength: UInt16? = nil,
        multicastGroup: IPAddress? = nil, multicastPort: UInt16? = nil, multicastTTL: UInt8? = nil
    ) {
        self.role = role
        self.interface = interface
        self.syncID = syncID
        self.maximumMessageLength = maximumMessageLength
        self.multicastGroup = multicastGroup
        self.multicastPort = multicastPort
        self.multicastTTL = multicastTTL
    }

    /// The defaults a kernel reply fills in for a daemon started without them (ip_vs_sync.c `start_sync_thread`:
    /// IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT, TTL 1), for comparing what was asked with what runs.
    public static let defaultMulticastGroup = IPAddress.v4(IPv4Address(224, 0, 0, 81))
    public static let defaultMulticastPort: UInt16 = 8848
    public static let defaultMulticastTTL: UInt8 = 1
}
