# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# systemd units: failed units and restart loops (NRestarts), and services (re)started
# shortly before the event. Times come from the monotonic timestamps + boot time.

gather_systemd() {
    SYSTEMD_OUT="$WORK/systemd_show"; : >"$SYSTEMD_OUT"
    have systemctl || return 0
    OUT=$SYSTEMD_OUT capture 1048576 systemctl show --no-pager '*.service' \
        -p Id,ActiveState,SubState,Result,NRestarts,ActiveEnterTimestampMonotonic,InactiveEnterTimestampMonotonic
}

read -r -d '' AWK_SYSTEMD <<'AWK'
function flush() {
    if (id == "") return
    at = ae > 0 ? btime + ae / 1000000 : ""
    it = ie > 0 ? btime + ie / 1000000 : ""
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
{ k = $0; sub(/=.*/, "", k); v = substr($0, length(k) + 2) }
k == "Id" { id = v } k == "ActiveState" { state = v } k == "SubState" { sub_ = v } k == "Result" { result = v }
k == "NRestarts" { nr = v } k == "ActiveEnterTimestampMonotonic" { ae = v + 0 } k == "InactiveEnterTimestampMonotonic" { ie = v + 0 }
END { flush(); if (!nf) print "no failed units" }
AWK

section_systemd() {
    OUT="$WORK/systemd"
    if [ -s "$SYSTEMD_OUT" ] && ! grep -q 'not available on this node' "$SYSTEMD_OUT"; then
        awk -v ev="$EV" -v btime="$BTIME" -v window="$((CHANGE_WINDOW * 60))" -v ffile="$FINDINGS_TSV" "$AWK_TIME $AWK_FIND $AWK_SYSTEMD" "$SYSTEMD_OUT" >"$OUT"
    else
        echo "systemctl: not available on this node (or no systemd)" >"$OUT"
    fi
    add_section systemd "systemd units" "systemctl show '*.service' -p Id,ActiveState,Result,NRestarts,...TimestampMonotonic" "$(cap_of 8192 2)" "$OUT"
}
