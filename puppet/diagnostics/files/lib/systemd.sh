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

read -r -d '' AWK_SYSTEMD <"$LIB/systemd.awk"

section_systemd() {
    OUT="$WORK/systemd"
    if [ -s "$SYSTEMD_OUT" ] && ! grep -q 'not available on this node' "$SYSTEMD_OUT"; then
        awk -v ev="$EV" -v btime="$BTIME" -v window="$((CHANGE_WINDOW * 60))" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.systemd" \
            "$AWK_TIME $AWK_FIND $AWK_SYSTEMD" "$SYSTEMD_OUT" >"$OUT"
        IFS= read -r SYSTEMD_KNOWN 2>/dev/null <"$WORK/vars.systemd"; SYSTEMD_KNOWN=${SYSTEMD_KNOWN#SYSTEMD_KNOWN=}
    else
        echo "systemctl: not available on this node (or no systemd)" >"$OUT"
    fi
    add_section systemd "systemd units" "systemctl show '*.service' -p Id,ActiveState,Result,NRestarts,...TimestampMonotonic" "cap:8192:2" "$OUT"
}
