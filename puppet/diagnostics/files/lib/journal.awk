# journalctl -o short-iso lines: "2026-11-21T03:12:30+0000 web01 systemd[1]: x.service: ..."
function unit_of(s,   u) { u = s; sub(/^.*systemd\[[0-9]+\]: /, "", u); sub(/: .*/, "", u); return u }
function near(t) { return t != "" && t >= ev - 900 && t <= ev + 120 }
function when(t) { return t < ev ? span(ev - t) " before the event" : span(t - ev) " after the event" }
/ kernel: / { next }
{
    t = stamp($0); if (t < 0) t = ""
    msg = $0; sub(/^[^ ]+ [^ ]+ /, "", msg)
    if (match($0, /Failed with result '[^']+'/)) {
        u = unit_of($0); r = substr($0, RSTART + 20, RLENGTH - 21)
        failed[u] = r; failt[u] = t; shown[++n] = msg
        if (r == "oom-kill") { oomu = u; oomt = t }
    } else if (match($0, /restart counter is at [0-9]+/)) {
        u = unit_of($0); c = substr($0, RSTART + 22, RLENGTH - 22) + 0
        if (c > restarts[u]) { restarts[u] = c; restt[u] = t }
        shown[++n] = msg
    } else if ($0 ~ /code=dumped, status=[0-9]+\/(SEGV|ABRT|BUS|ILL|FPE)|dumped core\./) {
        if (match($0, /\([^)]+\) of user/)) c = substr($0, RSTART + 1, RLENGTH - 10); else c = unit_of($0)
        dumps[c]++; if (near(t)) dnear[c]++; dumpt[c] = t; shown[++n] = msg
    } else if ($0 ~ /systemd-oomd\[[0-9]+\]: Killed |earlyoom\[[0-9]+\]: (sending SIG|killing)/) {
        ukill = msg; ukillt = t; shown[++n] = msg
    }
}
END {
    for (i = (n > 30 ? n - 29 : 1); i <= n; i++) print shown[i]
    if (!n) print "no unit failures, restarts, core dumps or userspace OOM kills around the event"
    if (ukill != "" && near(ukillt)) fnd("critical", "oom-kill", "journal", sprintf("a userspace OOM killer acted %s: %s", when(ukillt), substr(ukill, 1, 160)), ukillt)
    if (oomu != "" && near(oomt) && ukill == "") fnd("critical", "oom-kill", "journal", sprintf("%s failed with result 'oom-kill' %s", oomu, when(oomt)), oomt)
    for (u in failed) if (index(known, " " u " ") == 0 && failt[u] != "" && failt[u] >= ev - window && failt[u] <= ev + 300 && failed[u] != "oom-kill")
        fnd("warning", "unit-failed", "journal", sprintf("%s failed with result '%s' %s%s", u, failed[u], when(failt[u]), failed[u] == "watchdog" ? " (hung: it stopped answering the systemd watchdog and was killed)" : ""), failt[u])
    for (u in restarts) if (index(known, " " u " ") == 0 && restarts[u] >= 3)
        fnd(restarts[u] >= 10 ? "critical" : "warning", "unit-restarting", "journal", sprintf("%s: restart counter at %d %s (crash loop)", u, restarts[u], when(restt[u])), restt[u])
    # the SIGABRT with which systemd's watchdog kills a hung service dumps core too: that is
    # the unit-failed (result 'watchdog') above, not a crash of the program
    for (c in dumps) if (failed[c] != "watchdog" && dnear[c] && dumps[c] > most) { most = dumps[c]; mc = c }
    if (most) fnd(most >= 3 ? "critical" : "warning", "segfault", "journal", sprintf("%s dumped core %d time(s), last %s", mc, most, when(dumpt[mc])), dumpt[mc])
}
