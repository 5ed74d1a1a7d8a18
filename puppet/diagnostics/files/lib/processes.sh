# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Processes: one `ps` gives the top by memory, the top by CPU and the tasks stuck in
# uninterruptible sleep (state D: waiting for I/O or a kernel lock).

PS_FIELDS="pid,user,stat,rss,vsz,pcpu,pmem,etime,wchan:24,comm"

gather_processes() {
    PS_OUT="$WORK/ps"; : >"$PS_OUT"
    OUT=$PS_OUT capture 262144 ps -eo "$PS_FIELDS" --sort=-rss
}

section_processes() { # id sort-column title
    OUT="$WORK/ps_$1"
    local header col=0 i=0 word
    IFS= read -r header 2>/dev/null <"$PS_OUT"
    for word in $header; do i=$((i + 1)); [ "$word" = "%CPU" ] && col=$i; done
    if [ "$1" = rss ] || [ "$col" = 0 ]; then head -n 11 "$PS_OUT"
    else { head -n 1 "$PS_OUT"; tail -n +2 "$PS_OUT" | sort -k"$col,$col"rn | head -n 10; }; fi >"$OUT"
    add_section "processes_$1" "$3" "ps -eo $PS_FIELDS --sort=-$2 | head -n 11" "cap:8192:3" "$OUT"
}
