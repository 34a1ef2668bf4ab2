/// `-h` and `-v`. The commands and options are ipvsadm's; the wording is ipvsctl's own.
public enum IPVSAdmUsage {
    public static let version = "ipvsctl 0.1 (ipvsadm v1.31 command line, IPVS v1.2.1)\n"

    public static func text(program: String) -> String {
        """
        \(version)Usage:
          \(program) -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe engine] [-b sched-flags]
          \(program) -D virtual-service
          \(program) -C
          \(program) -R
          \(program) -S [-n]
          \(program) -a|e virtual-service -r server-address [options]
          \(program) -d virtual-service -r server-address
          \(program) -L|l [virtual-service] [options]
          \(program) -Z [virtual-service]
          \(program) --set tcp tcpfin udp
          \(program) --start-daemon {master|backup} [daemon-options]
          \(program) --stop-daemon {master|backup}
          \(program) -h

        Commands (long or short):
          --add-service     -A   add a virtual service
          --edit-service    -E   change a virtual service
          --delete-service  -D   delete a virtual service and its real servers
          --clear           -C   delete every virtual service
          --restore         -R   read rules (as --save writes them) from standard input
          --save            -S   write the rules to standard output
          --add-server      -a   add a real server to a virtual service
          --edit-server     -e   change a real server
          --delete-server   -d   delete a real server
          --list            -L|-l  list the table (the default with no arguments)
          --zero            -Z   zero the counters of one service or of all
          --set tcp tcpfin udp   set the connection timeouts, in seconds (0: unchanged)
          --start-daemon         start the connection sync daemon
          --stop-daemon          stop the connection sync daemon
          --help            -h   this text

        virtual-service:
          --tcp-service|-t host[:port]   --udp-service|-u host[:port]   --sctp-service host[:port]
          --fwmark-service|-f mark       (with --ipv6|-6 for an IPv6 firewall-mark service)

        Service options:
          --scheduler|-s name (default wlc)   --persistent|-p [timeout] (default 300)   --netmask|-M mask
          --pe engine   --sched-flags|-b flag[,flag]   --ops|-o (one-packet scheduling, UDP)

        Real-server options:
          --real-server|-r host[:port]   --gatewaying|-g (default)   --ipip|-i   --masquerading|-m
          --weight|-w 0-65535   --u-threshold|-x n   --l-threshold|-y n
          --tun-type ipip|gue|gre   --tun-port port   --tun-nocsum   --tun-csum   --tun-remcsum

        List options:
          --numeric|-n   --connection|-c   --timeout   --daemon   --stats   --rate   --exact|-X
          --thresholds   --persistent-conn   --tun-info   --nosort   --sort

        Daemon options:
          --syncid id   --sync-maxlen length   --mcast-interface name   --mcast-group address
          --mcast-port port   --mcast-ttl ttl

        """
    }
}
