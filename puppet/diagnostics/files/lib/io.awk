# Whole disks only: sda, vdb, xvda, nvme0n1, mmcblk0, dm-3, md0 (not partitions, loops, ram).
function whole(d) { return d ~ /^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+|dm-[0-9]+|md[0-9]+)$/ }
FILENAME ~ /s1\.diskstats$/ && whole($3) { for (i = 4; i <= 14; i++) d1[$3, i] = $i; disks[++nd] = $3 }
FILENAME ~ /s2\.diskstats$/ && whole($3) { for (i = 4; i <= 14; i++) d2[$3, i] = $i }
FILENAME ~ /pressure_io$/ { psi[$1] = $0; split($2, a, "="); p10[$1] = a[2] + 0; havepsi = 1 }
# ps columns by their header (the task asks for pid,user,stat,...,wchan,comm; any ps layout works)
FILENAME ~ /\/ps$/ && FNR == 1 { for (i = 1; i <= NF; i++) { if ($i == "STAT" || $i == "S") sc = i; if ($i == "WCHAN") wc = i; if ($i == "PID") pc = i; if ($i ~ /^(COMMAND|COMM|CMD)$/) cc = i; if ($i == "ELAPSED") ec = i }; next }
# a task in D that started days ago (a df or ls on a dead network mount) has been stuck about that long
FILENAME ~ /\/ps$/ && sc && $sc ~ /^D/ { nD++; if (ec && $ec ~ /^[0-9]+-/) old++; if (nD <= 8) dl = dl sprintf("%s %s(%s%s) ", $pc, $cc, wc ? $wc : "?", ec ? ", up " $ec : "") }
END {
    s = ms / 1000
    printf "%-10s %7s %7s %9s %9s %7s\n", "disk", "util%", "r/s", "w/s", "await_ms", "queue"
    for (k = 1; k <= nd; k++) {
        d = disks[k]; if (!((d, 4) in d2)) continue
        util = pct(d2[d, 13] - d1[d, 13], ms); if (util > 100) util = 100
        ios = d2[d, 4] - d1[d, 4] + d2[d, 8] - d1[d, 8]
        aw = ios > 0 ? (d2[d, 7] - d1[d, 7] + d2[d, 11] - d1[d, 11]) / ios : 0
        printf "%-10s %7.0f %7.0f %9.0f %9.1f %7d\n", d, util, (d2[d, 4] - d1[d, 4]) / s, (d2[d, 8] - d1[d, 8]) / s, aw, d2[d, 12]
        if (util > worst) { worst = util; wd = d; wa = aw; wq = d2[d, 12] }
    }
    print "psi io:   " (havepsi ? psi["some"] " | " psi["full"] : "not available (kernel without PSI)")
    printf "state D: %d task(s) %s\n", nD, dl
    stalled = havepsi ? (p10["full"] >= 10 || p10["some"] >= 30) : (wa >= 50 || nD >= 4)
    if (worst >= 90 && (stalled || nD >= 4))
        fnd(havepsi && p10["full"] >= 30 || nD >= 16 ? "critical" : "warning", "io-saturated", "io",
            sprintf("%s busy %.0f %% over %.1f s, await %.0f ms, queue %d; I/O stall %.0f %% (PSI io full), %d task(s) in D state", wd, worst, s, wa, wq, p10["full"], nD), "")
    else if (havepsi && p10["full"] >= 20)
        fnd("warning", "io-saturated", "io", sprintf("all non-idle tasks stalled on I/O %.0f %% of the last 10 s (PSI io full)", p10["full"]), "")
    else if (nD >= 8)
        fnd(old == nD ? "info" : "warning", "blocked-tasks", "io", sprintf("%d tasks in uninterruptible sleep (D): %s%s", nD, dl, old == nD ? " — all started days ago: long-standing, not this event's cause" : ""), "")
    else if (worst >= 90)
        fnd("info", "disk-busy", "io", sprintf("%s busy %.0f %% over %.1f s without stalls (await %.0f ms)", wd, worst, s, wa), "")
}
