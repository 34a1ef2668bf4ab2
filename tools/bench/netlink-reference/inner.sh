# tools/bench/netlink-reference/inner.sh — the part of ./run that runs inside the kernel VM (see there).
set -eu
out=$1
ipvsctl_built=$2
shift 2
rounds=2
ipvsadm_restore=1
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --no-ipvsadm-restore) ipvsadm_restore=0; shift ;;
        *) echo "netlink-reference: unknown option $1" >&2; exit 2 ;;
    esac
done
bin=/tmp/netlink-reference
mkdir -p $bin
cp "$out/load" "$out/dump" "$ipvsctl_built" "$out/restore.txt" $bin/
ipvsadm=$(command -v ipvsadm)
# seconds OUT CMD...: runs CMD (stdin as given, stdout to the file OUT), prints its wall time in seconds.
seconds() {
    to=$1
    shift
    s=$(date +%s%N)
    "$@" > "$to"
    e=$(date +%s%N)
    echo "$(( (e - s) / 1000000 ))" | awk '{ printf "%.3f", $1 / 1000 }'
}
fresh() {
    ip netns add "$1"
    ip -n "$1" link set lo up
}
in_ns() {
    ns=$1
    shift
    nsenter --net=/run/netns/"$ns" -- "$@"
}
"$bin/ipvsctl" -v >/dev/null
for round in $(seq "$rounds"); do
    fresh c; c_load=$(in_ns c "$bin/load" 10000 10); ip netns del c; sleep 3
    fresh x; ctl_restore=$(seconds /dev/null in_ns x "$bin/ipvsctl" -R < "$bin/restore.txt")
    adm_restore=null
    if [ "$ipvsadm_restore" = 1 ]; then
        # ipvsadm loads into a kernel holding no other table: x waits aside, emptied, and is loaded again after.
        in_ns x "$bin/ipvsctl" -C; ip netns del x; sleep 3
        fresh a; adm_restore=$(seconds /dev/null in_ns a "$ipvsadm" -R < "$bin/restore.txt"); ip netns del a; sleep 3
        fresh x; in_ns x "$bin/ipvsctl" -R < "$bin/restore.txt"
    fi
    c_read2=$(in_ns x "$bin/dump" 2)
    c_read1=$(in_ns x "$bin/dump" 1)
    ctl_list=$(seconds /tmp/ctl.txt in_ns x "$bin/ipvsctl" -Ln)
    adm_list=$(seconds /tmp/adm.txt in_ns x "$ipvsadm" -Ln)
    ctl_list2=$(seconds /tmp/ctl.txt in_ns x "$bin/ipvsctl" -Ln)
    identical=false
    cmp -s /tmp/ctl.txt /tmp/adm.txt && identical=true
    lines=$(wc -l < /tmp/adm.txt)
    ip netns del x; sleep 3
    echo "{\"round\": $round, \"c_load\": $c_load, \"ipvsctl_restore_s\": $ctl_restore, \"ipvsadm_restore_s\": $adm_restore," \
        "\"c_read_2_threads\": $c_read2, \"c_read_1_thread\": $c_read1, \"ipvsctl_list_s\": [$ctl_list, $ctl_list2]," \
        "\"ipvsadm_list_s\": $adm_list, \"listings_identical\": $identical, \"lines\": $lines}"
done
