/// Command lines for the differential tests: every command and option of ipvsadm 1.31, right and wrong, in the
/// forms popt reads (clusters, `=`, optional arguments, leftovers). Each is a list of words after the program name.
enum IPVSAdmCommandLines {
    static let all: [[String]] = lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        + special

    /// Lines whose words contain blanks or are empty, which the list below cannot spell.
    static let special: [[String]] = [
        ["-A", "-t", ""], ["-A", "-t", " 1.2.3.4:80"], ["-a", "-t", "1.2.3.4:80", "-r", "5.6.7.8", "-w", " 3"],
        ["-A", "-t", "1.2.3.4:80", "-s", ""], ["-L", ""], ["", "-L"], ["-A", "-f", ""], ["-A", "-t", "1.2.3.4:80", "-b", ""],
        ["-A", "-t", "1.2.3.4:80 x"], ["--set", "1", "2", " 3"],
    ]

    static let lines: [String] = [
        // No command, or not first.
        "foo", "-n", "-n -L", "-nL", "-x 5", "-t 1.2.3.4:80 -A", "--", "-- -L", "-", "-L -", "--bogus", "-L --bogus",
        "-Q", "-LQ", "-L -Q", "---", "-L ---", "-=", "-L -=", "--=x", "-L --=x",
        // Two commands.
        "-L -A", "-LA", "-A -L", "-L -l", "-C -C", "-L --list", "-L -h", "-L -v", "-A -R", "-S -S", "--set --set",
        "-L --start-daemon master", "-Z -C",
        // Arguments where none are taken, and missing ones.
        "-L=1", "--list=1", "-Ln=", "-L --numeric=yes", "-A -t", "-A --tcp-service", "-A -t 1.2.3.4:80 -s",
        "-A -t 1.2.3.4:80 --scheduler", "-a -t 1.2.3.4:80 -r", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w", "--start-daemon",
        "--stop-daemon", "-L --mcast-group", "-A -t 1.2.3.4:80 --pe",
        // Clusters and attached arguments.
        "-Ln", "-Lnc", "-Lcn", "-LnX", "-Lt", "-Lt1.2.3.4:80", "-Lt 1.2.3.4:80", "-Lnt 1.2.3.4:80 --stats",
        "-At1.2.3.4:80 -srr", "-At=1.2.3.4:80 -s=rr", "-At 1.2.3.4:80 -s -t", "-A -t1.2.3.4:80 -p10",
        "-A -t 1.2.3.4:80 -p=10", "-A -t 1.2.3.4:80 -pn", "-A -t 1.2.3.4:80 -ps rr", "-a -t 1.2.3.4:80 -r5.6.7.8 -mw3",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -m -w3 -x4 -y2", "--list -n", "-lnc", "-l",
        // Optional arguments.
        "-A -t 1.2.3.4:80 -p", "-A -t 1.2.3.4:80 -p 10", "-A -t 1.2.3.4:80 -p -s rr", "-A -t 1.2.3.4:80 -p foo",
        "-A -t 1.2.3.4:80 -p 0", "-A -t 1.2.3.4:80 -p 2678400", "-A -t 1.2.3.4:80 -p 2678401", "-A -t 1.2.3.4:80 -p -",
        "-A -t 1.2.3.4:80 --persistent", "-A -t 1.2.3.4:80 --persistent=60", "-A -t 1.2.3.4:80 --persistent 60",
        "-A -t 1.2.3.4:80 -p 10 -p 20", "-A -t 1.2.3.4:0", "-A -t 1.2.3.4:0 -p", "-A -t 1.2.3.4", "-A -t 1.2.3.4 -p",
        // Leftovers.
        "-L foo", "-L foo bar", "-C foo", "--set 1 2", "--set 1 2 3", "--set 1 2 3 4", "--set a 2 3", "--set 1 2 -3",
        "--set 1 2 2678401", "--set", "--set -- 1 2 3", "-A -t 1.2.3.4:80 -- -s rr", "foo -L", "-L -- -n",
        // Services.
        "-A -t 80", "-A -t 1.2.3.4:80", "-A -t 1.2.3.4:http", "-A -u 1.2.3.4:domain", "-A -t 1.2.3.4:nosuchport",
        "-A -t 1.2.3.4:65536", "-A -t 1.2.3.4:-1", "-A -t 1.2.3.4:+80", "-A -t 1.2.3.4:", "-A -t 10.1:80",
        "-A -t 0x7f.1:80", "-A -t 1.2.3.256:80", "-A -t localhost:80", "-A -t no.such.host.invalid:80",
        "-A -t [2001:db8::1]:80", "-A -t [2001:db8::1]", "-A -t [2001:db8::1]80", "-A -t [2001:db8::1:80",
        "-A -t 2001:db8::1", "-A -t 2001:db8::1 -p", "-A -t [1.2.3.4]:80", "-A -t [1.2.3.4]:80 -p",
        "-A -u 1.2.3.4:53", "-A --sctp-service 1.2.3.4:80", "-A --sctp-service 1.2.3.4:http",
        "-A -t 1.2.3.4:80 -u 1.2.3.4:80", "-A -t 1.2.3.4:80 -f 1", "-D -t 1.2.3.4:80", "-D -t 1.2.3.4:80 -s rr",
        "-D", "-E", "-E -t 1.2.3.4:80 -s rr", "-E -t 1.2.3.4:80 -r 5.6.7.8",
        // Firewall marks and -6.
        "-A -f 1", "-A -f 0", "-A -f -1", "-A -f 4294967295", "-A -f 4294967296", "-A -f 1x", "-A -f abc",
        "-A -f 1 -6", "-A -6 -f 1", "-A -f 1 -6 -6", "-A -f 1 -6 -M 64", "-A -f 1 -M 64 -6", "-A -f 1 -6 -M 0",
        "-A -f 1 -6 -M 129", "-A -f 1 -6 -M 64x", "-A -f 1 -M 255.255.255.0", "-A -f 1 -M 255.255.255.0 -p",
        "-A -f 1 -M foo", "-A -f 1 -M 24", "-L -f 1", "-L -f 1 -6", "-Z -f 1", "-D -f 1 -6",
        // Schedulers, flags, engines, ops.
        "-A -t 1.2.3.4:80 -s rr", "-A -t 1.2.3.4:80 -s nosuchscheduler", "-A -t 1.2.3.4:80 -s rr -s wlc",
        "-A -t 1.2.3.4:80 -s sh -b sh-port", "-A -t 1.2.3.4:80 -s sh -b sh-fallback,sh-port",
        "-A -t 1.2.3.4:80 -b sh-port -s sh", "-A -t 1.2.3.4:80 -b sh-port", "-A -t 1.2.3.4:80 -s mh -b sh-port",
        "-A -t 1.2.3.4:80 -s mh -b mh-port,mh-fallback", "-A -t 1.2.3.4:80 -b flag-1,flag-2,flag-3",
        "-A -t 1.2.3.4:80 -b flag-4", "-A -t 1.2.3.4:80 -b flag-1,,flag-2", "-A -t 1.2.3.4:80 -b ,flag-1",
        "-A -t 1.2.3.4:80 -b flag-1 -b flag-2", "-L -b flag-1", "-L -b bogus", "-a -t 1.2.3.4:80 -r 5.6.7.8 -b x",
        "-A -t 1.2.3.4:80 --pe sip", "-A -t 1.2.3.4:80 -p --pe sip", "-A -u 1.2.3.4:53 -o", "-A -t 1.2.3.4:80 -o",
        "-A -f 1 -o", "-A -u 1.2.3.4:53 --ops", "-A -t 1.2.3.4:80 -M 255.255.255.0",
        "-A -t [2001:db8::1]:80 -M 64", "-A -t [2001:db8::1]:80 -M 255.255.255.0", "-A -M 64 -t [2001:db8::1]:80",
        "-A -t 1.2.3.4:80 -x 5", "-A -t 1.2.3.4:80 -r 5.6.7.8", "-A -t 1.2.3.4:80 -m", "-A -t 1.2.3.4:80 -n",
        // Real servers.
        "-a -t 1.2.3.4:80", "-a -r 5.6.7.8", "-a -t 1.2.3.4:80 -r 5.6.7.8", "-a -t 1.2.3.4:80 -r 5.6.7.8:8080 -m",
        "-a -t 1.2.3.4:80 -r 5.6.7.8:http -m", "-a -r 5.6.7.8:http -t 1.2.3.4:80 -m", "-a -t 1.2.3.4:80 -r 80",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -g -m", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i", "-a -t 1.2.3.4:80 -r [2001:db8::2]:80",
        "-a -t 1.2.3.4:80 -r [2001:db8::2]:80 -i", "-a -t [2001:db8::1]:80 -r 5.6.7.8 -m",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -w 0", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65535", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65536", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w 2147483648",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -w -1", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w x", "-a -t 1.2.3.4:80 -r 5.6.7.8 -w 1 -w 2",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -x 2147483647", "-a -t 1.2.3.4:80 -r 5.6.7.8 -x 2147483648",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -y -5", "-a -t 1.2.3.4:80 -r 5.6.7.8 -s rr", "-a -t 1.2.3.4:80 -r 5.6.7.8 -p",
        "-e -t 1.2.3.4:80 -r 5.6.7.8 -w 5", "-e -t 1.2.3.4:80", "-d -t 1.2.3.4:80 -r 5.6.7.8",
        "-d -t 1.2.3.4:80 -r 5.6.7.8 -w 1", "-d -t 1.2.3.4:80 -r 5.6.7.8 -m", "-a -f 1 -r 5.6.7.8",
        "-a -f 1 -r 5.6.7.8:99 -m", "-a -f 1 -6 -r 5.6.7.8", "-a -f 1 -6 -r [2001:db8::2] -m",
        // Tunnels.
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type ipip", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 6080",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 6080 --tun-csum",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 6080 --tun-csum --tun-remcsum",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre --tun-csum", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre --tun-port 1",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre --tun-remcsum", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type vxlan",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -m --tun-type gue", "-a -t 1.2.3.4:80 -r 5.6.7.8 --tun-csum",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-port 6080", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 0",
        "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue --tun-port 65536", "-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-nocsum",
        "-L --tun-info", "-L --tun-type gue",
        // Listing options.
        "-L", "-L -n", "-L -n -n", "-L --stats", "-L --rate", "-L --exact", "-L -X", "-L --thresholds",
        "-L --persistent-conn", "-L --nosort", "-L --sort", "-L --sort --sort", "-L -c", "-L -c --stats",
        "-L -c --persistent-conn", "-L --timeout", "-L --timeout --stats", "-L --timeout --persistent-conn",
        "-L --daemon", "-L --daemon --rate", "-L --timeout --daemon", "-L -c --timeout", "-L -t 1.2.3.4:80 -c",
        "-L -t 1.2.3.4:80 --timeout", "-L -s rr", "-L -p", "-L -w 1", "-L --syncid 1", "-L -o", "-L --pe sip",
        "-L --stats --rate", "-L --thresholds --persistent-conn",
        // Save, restore, clear, zero, set.
        "-S", "-Sn", "-S -n", "-S --stats", "-S -c", "-R -n", "-R foo", "-C", "-C -n", "-Z", "-Z -t 1.2.3.4:80",
        "-Z -n", "--set 0 0 0", "--set 10 -n 20 30", "--zero", "--clear", "--save", "--restore -n",
        // Daemons.
        "--start-daemon master", "--start-daemon backup", "--start-daemon both", "--stop-daemon master",
        "--stop-daemon foo", "--start-daemon=master", "--start-daemon master --syncid 5",
        "--start-daemon master --syncid 256", "--start-daemon master --syncid -1",
        "--start-daemon master --mcast-interface eth1", "--start-daemon master --mcast-group 224.0.0.81",
        "--start-daemon master --mcast-group 10.0.0.1", "--start-daemon master --mcast-group ff02::1",
        "--start-daemon master --mcast-group fe80::1", "--start-daemon master --mcast-group x",
        "--start-daemon master --mcast-port 0", "--start-daemon master --mcast-port 8848",
        "--start-daemon master --mcast-ttl 256", "--start-daemon master --mcast-ttl 2",
        "--start-daemon master --sync-maxlen 65508", "--start-daemon master --sync-maxlen 65507",
        "--stop-daemon master --syncid 3", "--stop-daemon master --mcast-port 1", "-L --mcast-port 1",
        // Help and version.
        "-v", "-V", "--version", "-L -v", "-vL",
    ]
}
