# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Network: listening sockets and connections (ss, else netstat), TCP listen-queue
# overflows and drops over the shared interval (/proc/net/netstat twice), conntrack table
# use, TIME-WAIT and ephemeral port use per destination.

gather_net() {
    NET_LISTEN="$WORK/listen"; NET_TCP="$WORK/tcp"; : >"$NET_LISTEN"; : >"$NET_TCP"
    if have ss; then
        NET_TOOL=ss
        OUT=$NET_LISTEN capture 24576 ss -ltnup
        # state recv-q send-q local peer
        # (a Netid column, as with -u or -a, is dropped)
        run ss -tan 2>/dev/null | head -n 200000 | awk 'NR > 1 { if ($1 ~ /^(tcp|udp|raw|u_|tcp6|udp6)/) { if ($1 !~ /^tcp/) next; $1 = ""; $0 = $0 } print $1, $2, $3, $4, $5 }' >"$NET_TCP"
    elif have netstat; then
        NET_TOOL=netstat
        OUT=$NET_LISTEN capture 24576 netstat -ltnup
        run netstat -tan 2>/dev/null | head -n 200000 |
            awk '$1 ~ /^tcp/ { s = $6; if (s == "LISTEN") s = "LISTEN"; else if (s == "ESTABLISHED") s = "ESTAB"; else if (s == "TIME_WAIT") s = "TIME-WAIT"; print s, $2, $3, $4, $5 }' >"$NET_TCP"
    else
        NET_TOOL=none
        echo "ss and netstat: not available on this node" >"$NET_LISTEN"
    fi
}

read -r -d '' AWK_NET <"$LIB/net.awk"

section_network() {
    local k v
    OUT="$WORK/network"
    awk -v ev="$EV" -v ms="$INTERVAL_MS" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.net" "$AWK_FIND $AWK_NET" \
        "$WORK/s1.net_netstat" "$WORK/s2.net_netstat" "$WORK/p.sys_net_netfilter_nf_conntrack_count" \
        "$WORK/p.sys_net_netfilter_nf_conntrack_max" "$WORK/p.sys_net_ipv4_ip_local_port_range" "$WORK/p.net_sockstat" "$NET_TCP" >"$OUT"
    LISTEN_PORTS=" "; EPH_WORST=""
    declare -gA EST_BY_PORT=()
    while IFS='=' read -r k v; do
        case $k in
            LISTEN_PORTS) LISTEN_PORTS=$v ;;
            EPH_WORST) EPH_WORST=$v ;;
            EST_*) EST_BY_PORT[${k#EST_}]=$v ;;
        esac
    done <"$WORK/vars.net"
    add_section network "TCP queues, conntrack, ports" "/proc/net/netstat twice, ${INTERVAL_MS} ms apart; nf_conntrack_count/max; ip_local_port_range; $NET_TOOL -tan" "cap:6144:2" "$OUT"

    OUT="$WORK/sockets"
    {
        echo "== listening sockets"
        cat -- "$NET_LISTEN"
        echo "== established connections by peer (top 10)"
        awk '$1 == "ESTAB" { p = $5; sub(/:[^:]*$/, "", p); c[p]++ } END { for (p in c) print c[p], p }' "$NET_TCP" | sort -rn | head -n 10
    } >"$OUT"
    add_section sockets "Sockets" "$NET_TOOL -ltnup; $NET_TOOL -tan: established by peer" "cap:32768:4" "$OUT"
}
