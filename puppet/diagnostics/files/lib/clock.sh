# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Clock synchronisation: timedatectl (systemd), chronyc tracking, ntpq; whichever exists.
# A clock that is off breaks TLS (certificate "not yet valid"/"expired"), tokens and
# Kerberos; the offset is the proof.

gather_clock() {
    CLOCK_OUT="$WORK/clock"; : >"$CLOCK_OUT"
    local tool
    for tool in timedatectl chronyc ntpq; do
        have "$tool" || continue
        echo "== $tool" >>"$CLOCK_OUT"
        case $tool in
            timedatectl) OUT=$CLOCK_OUT capture 4096 timedatectl status ;;
            chronyc) OUT=$CLOCK_OUT capture 4096 chronyc -n tracking ;;
            ntpq) OUT=$CLOCK_OUT capture 4096 ntpq -pn ;;
        esac
    done
    [ -s "$CLOCK_OUT" ] || echo "timedatectl, chronyc and ntpq: not available on this node" >"$CLOCK_OUT"
}

read -r -d '' AWK_CLOCK <<'AWK'
/^== / { tool = $2; next }
tool == "timedatectl" && /(System clock synchronized|NTP synchronized): *no/ { unsynced = "timedatectl: " $0 }
tool == "timedatectl" && /(System clock synchronized|NTP synchronized): *yes/ { synced = 1 }
tool == "chronyc" && /^Leap status *: *Not synchronised/ { unsynced = "chronyc: leap status not synchronised" }
tool == "chronyc" && /^System time *:/ { off = $4 + 0; dir = $6; have_off = 1 }
tool == "chronyc" && /^Last offset *:/ && !have_off { off = $5 + 0; sub(/^-/, "", off); have_off = 1 }
tool == "ntpq" && /^\*/ { off = $9 / 1000; if (off < 0) off = -off; have_off = 1; synced = 1 }
END {
    tls = app_tls + 0
    if (have_off && off >= 1)
        fnd(off >= 30 || tls ? "critical" : "warning", "clock-skew", "clock",
            sprintf("the clock is %.1f s %s NTP time%s", off, dir == "" ? "off" : dir " of", tls ? " and the application reports TLS/certificate time errors" : ""), "")
    else if (unsynced != "")
        fnd(tls ? "critical" : "warning", "clock-unsynced", "clock", "the clock is not synchronised (" unsynced ")" (tls ? "; the application reports TLS/certificate time errors" : ""), "")
}
AWK

section_clock() {
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v app_tls="${APP_TLS_TIME:-0}" "$AWK_FIND $AWK_CLOCK" "$CLOCK_OUT"
    add_section clock "Clock synchronisation" "timedatectl status; chronyc -n tracking; ntpq -pn" "$(cap_of 4096 2)" "$CLOCK_OUT"
}
