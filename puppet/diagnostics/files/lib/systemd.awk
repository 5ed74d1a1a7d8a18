BEGIN { known = " " }
function flush() {
    if (id == "") return
    at = ae > 0 ? btime + ae / 1000000 : ""
    it = ie > 0 ? btime + ie / 1000000 : ""
    if (state == "failed" || nr + 0 >= 3) known = known id " "
    if (state == "failed") {
        nf++; printf "failed:    %s (result %s, since %s)\n", id, result, it == "" ? "?" : iso_of(it)
        if (it != "" && it >= ev - window && it <= ev + 300) fnd("warning", "unit-failed", "systemd", sprintf("%s failed %s (result: %s)", id, it < ev ? span(ev - it) " before the event" : span(it - ev) " after the event", result), it)
        else fnd("info", "unit-failed", "systemd", sprintf("%s is failed (result: %s)%s", id, result, it == "" ? "" : ", since " iso_of(it)), it)
    }
    if (nr + 0 >= 3) {
        printf "restarts:  %s restarted %d times by systemd\n", id, nr
        fnd(nr >= 10 ? "critical" : "warning", "unit-restarting", "systemd", sprintf("%s was restarted %d times by systemd (crash loop), now %s/%s", id, nr, state, sub_), at)
    }
    if (state == "active" && at != "" && ae > 300000000 && at >= ev - window && at <= ev) {
        printf "started:   %s at %s\n", id, iso_of(at)
        fnd("warning", "service-restarted", "systemd", sprintf("%s was (re)started %s before the event", id, span(ev - at)), at)
    }
    id = state = sub_ = result = nr = ""; ae = ie = 0
}
/^$/ { flush(); next }
# `systemctl --failed` / list-units layout (a systemctl that answered that instead): failed, time unknown
/^[^=]*\.(service|socket|mount|timer) +loaded +failed +failed/ {
    u = $1; if (u !~ /\./) u = $2
    if (index(known, " " u " ") == 0) {
        known = known u " "; nf++; printf "failed:    %s (from the unit list; time unknown)\n", u
        fnd("warning", "unit-failed", "systemd", u " is failed (time unknown)", "")
    }
    next
}
{ k = $0; sub(/=.*/, "", k); v = substr($0, length(k) + 2) }
k == "Id" { id = v } k == "ActiveState" { state = v } k == "SubState" { sub_ = v } k == "Result" { result = v }
k == "NRestarts" { nr = v } k == "ActiveEnterTimestampMonotonic" { ae = v + 0 } k == "InactiveEnterTimestampMonotonic" { ie = v + 0 }
END { flush(); if (!nf) print "no failed units"; print "SYSTEMD_KNOWN= " known > vfile }
