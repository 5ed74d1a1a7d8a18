# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Kernel messages: read once (dmesg, else the journal), each line dated (seconds since
# boot + btime, or its own timestamp), then classified: OOM kills, hung tasks, segfaults,
# filesystem and disk errors, conntrack/SYN/socket-memory drops, lockups, hardware errors.
# Only what happened shortly before the event (NEAR_BEFORE) is a cause; older is context.

readonly NEAR_BEFORE=900   # seconds before the event a kernel message may be its cause
readonly NEAR_AFTER=120    # and after (clocks and log delivery are not exact)

readonly KERNEL_LOG_FILES=(/var/log/kern.log /var/log/messages /var/log/syslog)

gather_kernel() {
    KERNEL_RAW="$WORK/kernel_raw"; : >"$KERNEL_RAW"
    KERNEL_FILE="$WORK/kernel_file"; : >"$KERNEL_FILE"; KERNEL_FILE_NAME=""
    local f
    # The kernel lines syslog kept on disk reach back before the last boot (dmesg does not).
    for f in "${KERNEL_LOG_FILES[@]}"; do
        if [ -f "$f" ] && [ -r "$f" ]; then
            tail -c 262144 "$f" | grep -F ' kernel: ' >"$KERNEL_FILE"; KERNEL_FILE_NAME=$f; break
        fi
    done
    KERNEL_SOURCE="dmesg"
    if have dmesg && run dmesg 2>/dev/null | tail -c 1048576 >"$KERNEL_RAW" && [ -s "$KERNEL_RAW" ]; then return 0; fi
    KERNEL_SOURCE="journalctl -k"
    if have journalctl && run journalctl -k -b --no-pager -q -o short-iso -n 3000 2>/dev/null | tail -c 1048576 >"$KERNEL_RAW" && [ -s "$KERNEL_RAW" ]; then return 0; fi
    KERNEL_SOURCE="none"
    if ! have dmesg && ! have journalctl; then
        echo "dmesg and journalctl: not available on this node" >"$KERNEL_RAW"
    else
        echo "kernel messages: not permitted (dmesg and journalctl -k gave nothing; kernel.dmesg_restrict or container?)" >"$KERNEL_RAW"
    fi
}

# "[ 12.345678] msg" -> "epoch<TAB>msg" (btime + uptime seconds); other formats by stamp().
read -r -d '' AWK_KERNEL_DATE <"$LIB/kernel_date.awk"

read -r -d '' AWK_KERNEL <"$LIB/kernel.awk"

section_kernel() {
    local k v
    KERNEL_TSV="$WORK/kernel.tsv"
    : >"$WORK/oom.tsv"; : >"$WORK/vars.kernel"; : >"$WORK/kernel_events"
    if [ "$KERNEL_SOURCE" = none ] && [ -s "$KERNEL_FILE" ]; then
        KERNEL_SOURCE=$KERNEL_FILE_NAME; : >"$KERNEL_RAW"
    elif [ -s "$KERNEL_FILE" ]; then
        KERNEL_SOURCE="$KERNEL_SOURCE + $KERNEL_FILE_NAME (older lines)"
    fi
    if [ "$KERNEL_SOURCE" != none ]; then
        awk -v btime="$BTIME" -v tzoff="$TZOFF" -v ev="$EV" -v evyear="$EVYEAR" "$AWK_TIME $AWK_KERNEL_DATE" \
            "$KERNEL_RAW" "$KERNEL_FILE" >"$KERNEL_TSV"
        awk -v ev="$EV" -v before="$NEAR_BEFORE" -v after="$NEAR_AFTER" -v ffile="$FINDINGS_TSV" -v oomfile="$WORK/oom.tsv" \
            -v vfile="$WORK/vars.kernel" "$AWK_TIME $AWK_FIND $AWK_KERNEL" "$KERNEL_TSV" >"$WORK/kernel_events"
        tail -n 50 "$KERNEL_TSV" | awk -F '\t' "$AWK_TIME"' { print ($1 == "" ? "" : "[" iso_of($1) "] ") $2 }' >"$WORK/kernel"
    else
        cp -- "$KERNEL_RAW" "$WORK/kernel"
    fi
    while IFS='=' read -r k v; do case $k in KERNEL_RO) KERNEL_RO=$v ;; RO_NEAR) RO_NEAR=$v ;; esac; done <"$WORK/vars.kernel"
    add_section kernel "Kernel messages (last 50)" "$KERNEL_SOURCE | tail -n 50" "cap:32768:6" "$WORK/kernel"

    OUT="$WORK/oom"
    if [ "$KERNEL_SOURCE" = none ]; then cp -- "$KERNEL_RAW" "$OUT"
    else
        tail -n 20 "$WORK/oom.tsv" | awk -F '\t' "$AWK_TIME"' { print ($2 == "" ? "" : "[" iso_of($2) "] ") $3 }' >"$OUT"
        [ -s "$OUT" ] || echo "no OOM-killer events in the kernel messages" >"$OUT"
    fi
    add_section oom "OOM-killer events" "$KERNEL_SOURCE | grep -i 'out of memory|oom-kill|killed process'" "cap:16384:3" "$OUT"

    [ -s "$WORK/kernel_events" ] || echo "no hung tasks, segfaults, filesystem/disk errors, drops, lockups or hardware errors in the kernel messages" >"$WORK/kernel_events"
    add_section kernel_events "Kernel events near the event time" "classified $KERNEL_SOURCE lines (near = ${NEAR_BEFORE} s before to ${NEAR_AFTER} s after)" "cap:8192:3" "$WORK/kernel_events"
}
