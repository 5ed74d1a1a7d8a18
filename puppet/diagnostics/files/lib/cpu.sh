# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# CPU use over the shared interval (two samples of /proc/stat): busy, iowait, steal, run
# queue, and CPU pressure (PSI). USE method: utilisation and saturation of the CPUs.

read -r -d '' AWK_CPU <"$LIB/cpu.awk"

section_cpu() {
    OUT="$WORK/cpu"
    awk -v ev="$EV" -v ms="$INTERVAL_MS" -v cpus="$CPUS" -v ffile="$FINDINGS_TSV" "$AWK_FIND $AWK_CPU" \
        "$WORK/s1.stat" "$WORK/s2.stat" "$WORK/p.pressure_cpu" >"$OUT"
    add_section cpu "CPU over the sampling interval" "/proc/stat twice, ${INTERVAL_MS} ms apart; /proc/pressure/cpu" "cap:4096:2" "$OUT"
}
