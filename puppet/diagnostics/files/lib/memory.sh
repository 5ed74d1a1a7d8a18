# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Memory: available memory, swap, memory pressure (PSI) and swapping/major faults over
# the shared interval (two samples of /proc/vmstat), and strict overcommit (mode 2: the
# commit limit, not RAM, fails allocations and forks with ENOMEM).

read -r -d '' AWK_MEMORY <"$LIB/memory.awk"

section_memory() {
    OUT="$WORK/memory"
    local k v
    awk -v ev="$EV" -v ms="$INTERVAL_MS" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.memory" -v causes="$APP_CAUSES" "$AWK_FIND $AWK_MEMORY" \
        "$WORK/p.meminfo" "$WORK/s1.vmstat" "$WORK/s2.vmstat" "$WORK/p.pressure_memory" "$WORK/p.sys_vm_overcommit_memory" "$WORK/p.sys_vm_overcommit_ratio" >"$OUT" 2>/dev/null
    while IFS='=' read -r k v; do [ "$k" = OOMKILL_COUNTER ] && OOMKILL_COUNTER=$v; done <"$WORK/vars.memory"
    add_section memory "Memory" "/proc/meminfo; /proc/vmstat twice, ${INTERVAL_MS} ms apart; /proc/pressure/memory; vm.overcommit_memory" "cap:4096:2" "$OUT"
}
