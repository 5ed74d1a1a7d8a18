# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Disk I/O over the shared interval (two samples of /proc/diskstats): per-disk busy time,
# IOPS and latency, I/O pressure (PSI), and the tasks blocked in state D.

read -r -d '' AWK_IO <"$LIB/io.awk"

section_io() {
    OUT="$WORK/io"
    awk -v ev="$EV" -v ms="$INTERVAL_MS" -v ffile="$FINDINGS_TSV" "$AWK_FIND $AWK_IO" \
        "$WORK/s1.diskstats" "$WORK/s2.diskstats" "$WORK/p.pressure_io" "$PS_OUT" >"$OUT"
    add_section io "Disk I/O over the sampling interval" "/proc/diskstats twice, ${INTERVAL_MS} ms apart; /proc/pressure/io; ps state D" "cap:6144:2" "$OUT"
}
