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

read -r -d '' AWK_CLOCK <"$LIB/clock.awk"

section_clock() {
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v app_tls="${APP_TLS_TIME:-0}" "$AWK_FIND $AWK_CLOCK" "$CLOCK_OUT"
    add_section clock "Clock synchronisation" "timedatectl status; chronyc -n tracking; ntpq -pn" "cap:4096:2" "$CLOCK_OUT"
}
