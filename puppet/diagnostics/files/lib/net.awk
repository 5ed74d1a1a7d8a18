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
