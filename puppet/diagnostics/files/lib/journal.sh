# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# The system journal around the event (not the kernel's: kernel.sh reads those): units
# that failed and why (result 'oom-kill', 'core-dump', ...), restart loops, core dumps,
# and userspace OOM killers (systemd-oomd, earlyoom) whose kills dmesg never shows.

gather_journal() {
    JOURNAL_RAW="$WORK/journal_raw"; : >"$JOURNAL_RAW"
    have journalctl || return 0
    run journalctl --no-pager -q -o short-iso --since "@$((EV - CHANGE_WINDOW * 60))" --until "@$((EV + 120))" -n 5000 \
        2>/dev/null | tail -c 1048576 >"$JOURNAL_RAW"
}

read -r -d '' AWK_JOURNAL <"$LIB/journal.awk"

section_journal() {
    OUT="$WORK/journal"
    if [ -s "$JOURNAL_RAW" ]; then
        awk -v ev="$EV" -v tzoff="$TZOFF" -v evyear="$EVYEAR" -v window="$((CHANGE_WINDOW * 60))" -v known="${SYSTEMD_KNOWN:- }" \
            -v ffile="$FINDINGS_TSV" "$AWK_TIME $AWK_FIND $AWK_JOURNAL" "$JOURNAL_RAW" >"$OUT"
    else
        echo "journalctl: not available, or no entries around the event" >"$OUT"
    fi
    add_section journal "System journal around the event" "journalctl --since @$((EV - CHANGE_WINDOW * 60)) --until @$((EV + 120)) (unit failures, restarts, core dumps, userspace OOM kills)" "cap:8192:3" "$OUT"
}
