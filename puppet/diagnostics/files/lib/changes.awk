/^@@summary/ { mode = "summary"; next }
/^@@report/ { mode = "report"; next }
/^@@pkg / { mode = "pkg"; src = $2; next }
mode == "summary" {
    if ($0 ~ /^[a-z_]+:/) { top = $1; sub(/:$/, "", top); next }
    k = $1; sub(/:$/, "", k); v = $2; gsub(/"/, "", v)
    if (top == "time" && k == "last_run") p_time = v + 0
    if (top == "resources" && k == "changed") p_changed = v + 0
    if (top == "resources" && k == "failed") p_failed = v + 0
    if (top == "resources" && k == "total") p_total = v + 0
    if (top == "events" && k == "failure") p_evfail = v + 0
    if (top == "version" && k == "config") p_config = v
    next
}
mode == "report" {
    if ($0 ~ /^status:/) p_status = $2
    if ($0 ~ /^time: /) r_time = stamp(substr($0, 7))
    if ($0 ~ /^resource_statuses:/) { inrs = 1; next }
    if (inrs && $0 ~ /^[^ ]/) inrs = 0
    if (inrs && $0 ~ /^  [^ ]/) { r = $0; sub(/^  /, "", r); sub(/:[ ]*$/, "", r); gsub(/^["']|["']$/, "", r); next }
    if (inrs && $0 ~ /^    changed: true/ && nch < 50) ch[++nch] = r
    if (inrs && $0 ~ /^    failed: true/ && nfl < 20) fl[++nfl] = r
    next
}
mode == "pkg" {
    if (src ~ /history\.log$/) {
        if ($1 == "Start-Date:") { t = epoch_of(substr($2, 1, 4), substr($2, 6, 2), substr($2, 9, 2), substr($3, 1, 2), substr($3, 4, 2), substr($3, 7, 2)) - tzoff; next }
        if ($1 == "Commandline:") { aptcmd = substr($0, 14); next }
        if ($1 ~ /^(Install|Upgrade|Remove|Purge|Downgrade|Reinstall):$/) {
            act = tolower($1); sub(/:$/, "", act); rest = substr($0, length($1) + 2)
            n = split(rest, parts, /\), /)
            for (i = 1; i <= n; i++) { pk = parts[i]; sub(/ \(.*/, "", pk); sub(/:.*/, "", pk); pkg(t, act, pk, "apt") }
        }
        next
    }
    t = stamp($0); if (t < 0) next
    if (src ~ /dpkg\.log$/) { if ($3 ~ /^(install|upgrade|remove|purge)$/) { pk = $4; sub(/:.*/, "", pk); pkg(t, $3, pk " " $6, "dpkg") } ; next }
    if (src ~ /dnf\.rpm\.log$/) { if (match($0, /(Upgrade|Install|Erase|Downgrade|Reinstall): /)) { act = substr($0, RSTART, RLENGTH - 2); pk = substr($0, RSTART + RLENGTH); pkg(t, tolower(act), pk, "dnf") } ; next }
    if (src ~ /yum\.log$/) { if (match($0, /(Updated|Installed|Erased): /)) { act = substr($0, RSTART, RLENGTH - 2); pk = substr($0, RSTART + RLENGTH); pkg(t, tolower(act), pk, "yum") } ; next }
    if (src ~ /history$/) { split($0, z, "|"); if (z[2] ~ /^(install|remove)$/) pkg(t, z[2], z[3] " " z[4], "zypper"); next }
}
function pkg(t, act, name, tool) {
    nall++; if (t > lastpkg) { lastpkg = t; lastdesc = act " " name }
    if (t >= ev - window && t <= ev + 60) { nwin++; if (nwin <= 6) wl = wl (nwin > 1 ? ", " : "") act " " name; if (t > lastwin) lastwin = t; if (!firstwin || t < firstwin) firstwin = t; tools[tool] = 1 }
}
function when(t) { return t < ev ? span(ev - t) " before the event" : span(t - ev) " after the event" }
END {
    # a report without its summary: time and changes from the report itself
    if (!p_time && r_time > 0) { p_time = int(r_time); p_changed = nch; p_failed = nfl; p_total = "?" }
    if (p_time) {
        printf "puppet:   last run %s (%s), status %s, %d of %s resources changed, %d failed, config %s\n", iso_of(p_time), when(p_time), p_status == "" ? "?" : p_status, p_changed, p_total, p_failed, p_config
        for (i = 1; i <= nch && i <= 20; i++) print "  changed: " ch[i]
        for (i = 1; i <= nfl; i++) print "  failed:  " fl[i]
        for (i = 1; i <= nch && i <= 4; i++) cl = cl (i > 1 ? ", " : "") ch[i]
        if (nch > 4) cl = cl sprintf(" and %d more", nch - 4)
        inwin = p_time >= ev - window && p_time <= ev + 60
        if (inwin && p_changed > 0)
            fnd("warning", "puppet-change", "changes", sprintf("Puppet changed %d resource(s) %s%s", p_changed, when(p_time), cl == "" ? "" : ": " cl), p_time)
        if (inwin && (p_failed > 0 || p_evfail > 0 || p_status == "failed"))
            fnd("warning", "puppet-run-failed", "changes", sprintf("the Puppet run %s failed (%d failed resources)%s", when(p_time), p_failed, nfl ? ": " fl[1] : ""), p_time)
    } else print "puppet:   no last_run_summary.yaml found"
    if (nall) printf "packages: %d change(s) in the logs read, last %s (%s): %s\n", nall, iso_of(lastpkg), when(lastpkg), lastdesc
    else print "packages: no package changes in the logs read"
    if (nwin) {
        printf "packages in the %d min before the event: %d: %s%s\n", window / 60, nwin, wl, (nwin > 6 ? ", ..." : "")
        if (aptcmd != "") print "apt command: " aptcmd
        fnd("warning", "package-change", "changes", sprintf("%d package change(s) %s: %s%s", nwin, when(lastwin), wl, nwin > 6 ? ", ..." : ""), lastwin)
    }
}
