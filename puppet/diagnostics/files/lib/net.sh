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
        run ss -tan 2>/dev/null | head -n 200000 | awk 'NR > 1 { print $1, $2, $3, $4, $5 }' >"$NET_TCP"
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

read -r -d '' AWK_NET <<'AWK'
function port(a) { sub(/.*[:.]/, "", a); return a }
function host(a) { sub(/[:.][0-9*]+$/, "", a); gsub(/[][]/, "", a); sub(/^::ffff:/, "", a); return a }
FILENAME ~ /s1\.net_netstat$/ { if ($1 == prev1) for (i = 2; i <= NF; i++) n1[hdr1[i]] = $i; else for (i = 2; i <= NF; i++) hdr1[i] = $1 $i; prev1 = $1 }
FILENAME ~ /s2\.net_netstat$/ { if ($1 == prev2) for (i = 2; i <= NF; i++) n2[hdr2[i]] = $i; else for (i = 2; i <= NF; i++) hdr2[i] = $1 $i; prev2 = $1 }
FILENAME ~ /conntrack_count$/ { ctc = $1 }
FILENAME ~ /conntrack_max$/ { ctm = $1 }
FILENAME ~ /port_range$/ { lo = $1; hi = $2 }
FILENAME ~ /sockstat$/ && $1 == "TCP:" { for (i = 2; i < NF; i += 2) ss[$i] = $(i + 1) }
FILENAME ~ /\/tcp$/ {
    st[$1]++
    if ($1 == "LISTEN") { lp = port($4); listening[lp] = 1; if ($3 > 0 && $2 + 0 >= $3 + 0) full = full sprintf(" %s accept queue %d/%d;", $4, $2, $3); next }
    lport = port($4) + 0; pport = port($5); peer = host($5) ":" pport
    if ($1 == "ESTAB") est[pport]++
    if (lport >= lo && lport <= hi) { byp[peer]++; inrange++ }
}
function d(k) { return (k in n2) && (k in n1) ? n2[k] - n1[k] : 0 }
END {
    s = ms / 1000
    lo_ = d("TcpExt:ListenOverflows"); ld = d("TcpExt:ListenDrops"); qf = d("TcpExt:TCPReqQFullDrop"); two = d("TcpExt:TCPTimeWaitOverflow")
    printf "listen queue over %.1f s: ListenOverflows +%d, ListenDrops +%d, TCPReqQFullDrop +%d (since boot: %d overflows)\n", s, lo_, ld, qf, n2["TcpExt:ListenOverflows"]
    if (full != "") print "full accept queues:" full
    printf "TCP sockets by state:"; for (k in st) printf " %s %d", k, st[k]; printf "\n"
    printf "TIME-WAIT: %d (sockstat tw), TCPTimeWaitOverflow +%d\n", ss["tw"], two
    if (hi > lo) {
        size = hi - lo + 1
        for (p in byp) if (byp[p] > wc) { wc = byp[p]; wp = p }
        printf "ephemeral ports %d-%d (%d): %d sockets use them; busiest destination %s with %d\n", lo, hi, size, inrange, wp == "" ? "-" : wp, wc
        if (wc >= 0.7 * size) fnd(wc >= 0.9 * size ? "critical" : "warning", "ephemeral-ports", "network",
            sprintf("%d of %d ephemeral ports in use towards %s (%d %%; %d in TIME-WAIT on the node)", wc, size, wp, pct(wc, size), st["TIME-WAIT"]), "")
    }
    if (ctm > 0) {
        printf "conntrack: %d of %d entries (%d %%)\n", ctc, ctm, pct(ctc, ctm)
        if (ctc >= 0.8 * ctm) fnd(ctc >= 0.95 * ctm ? "critical" : "warning", "conntrack-full", "network", sprintf("conntrack table %d of %d entries (%d %%): new connections are dropped when full", ctc, ctm, pct(ctc, ctm)), "")
    }
    if (lo_ + qf >= 5 || full != "")
        fnd((lo_ + qf) / s >= 50 ? "critical" : "warning", "listen-overflow", "network",
            sprintf("ListenOverflows +%d, ListenDrops +%d in %.1f s;%s", lo_, ld, s, full == "" ? " the application does not accept() fast enough" : full), "")
    if (two > 0) fnd("warning", "timewait-overflow", "network", sprintf("TCPTimeWaitOverflow +%d in %.1f s: tcp_max_tw_buckets reached", two, s), "")
    for (p in listening) lst = lst " " p
    print "LISTEN_PORTS=" lst " " > vfile
    for (p in est) print "EST_" p "=" est[p] > vfile
    print "EPH_WORST=" wc " of " size " towards " wp > vfile
}
AWK

section_network() {
    local k v
    OUT="$WORK/network"
    awk -v ev="$EV" -v ms="$INTERVAL_MS" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.net" "$AWK_FIND $AWK_NET" \
        "$(sfile 1 net/netstat)" "$(sfile 2 net/netstat)" "$(pfile sys/net/netfilter/nf_conntrack_count)" \
        "$(pfile sys/net/netfilter/nf_conntrack_max)" "$(pfile sys/net/ipv4/ip_local_port_range)" "$(pfile net/sockstat)" "$NET_TCP" >"$OUT"
    LISTEN_PORTS=" "; EPH_WORST=""
    declare -gA EST_BY_PORT=()
    while IFS='=' read -r k v; do
        case $k in
            LISTEN_PORTS) LISTEN_PORTS=$v ;;
            EPH_WORST) EPH_WORST=$v ;;
            EST_*) EST_BY_PORT[${k#EST_}]=$v ;;
        esac
    done <"$WORK/vars.net"
    add_section network "TCP queues, conntrack, ports" "/proc/net/netstat twice, ${INTERVAL_MS} ms apart; nf_conntrack_count/max; ip_local_port_range; $NET_TOOL -tan" "$(cap_of 6144 2)" "$OUT"

    OUT="$WORK/sockets"
    {
        echo "== listening sockets"
        cat -- "$NET_LISTEN"
        echo "== established connections by peer (top 10)"
        awk '$1 == "ESTAB" { p = $5; sub(/:[^:]*$/, "", p); c[p]++ } END { for (p in c) print c[p], p }' "$NET_TCP" | sort -rn | head -n 10
    } >"$OUT"
    add_section sockets "Sockets" "$NET_TOOL -ltnup; $NET_TOOL -tan: established by peer" "$(cap_of 32768 4)" "$OUT"
}
