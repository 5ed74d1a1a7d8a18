# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# File descriptors: the system table (file-nr against file-max) and the processes closest
# to their own RLIMIT_NOFILE, which is where "Too many open files" usually comes from.

readonly FD_CANDIDATES=8   # processes (largest fd tables) whose fds are counted

# Candidates: the fd tables (FDSize, cheap) largest against their own soft limit, all
# processes in two greps; then their real open fds are counted.
gather_fds() {
    FD_TOP="$WORK/fd_top"; : >"$FD_TOP"
    local pid name fds limit
    { grep -H '^FDSize:' /proc/[0-9]*/status; grep -H '^Name:' /proc/[0-9]*/status; grep -H '^Max open files' /proc/[0-9]*/limits; } 2>/dev/null |
        awk -F ':' '{ split($1, p, "/"); pid = p[3] }
            $2 == "FDSize" { size[pid] = $3 + 0 } $2 == "Name" { v = $3; gsub(/^[ \t]+/, "", v); nm[pid] = v }
            $2 ~ /^Max open files/ { split($2, f, / +/); lim[pid] = f[4] }
            END { for (q in size) if (size[q] >= 64 && lim[q] + 0 > 0) printf "%.3f %s %s %s\n", size[q] / lim[q], q, lim[q], nm[q] }' |
        sort -rn | head -n "$FD_CANDIDATES" >"$WORK/fd_cand"
    while read -r _ pid limit name; do
        fds=(/proc/"$pid"/fd/*)
        [ -e "${fds[0]}" ] || continue
        printf '%s\t%s\t%s\t%s\n' "${#fds[@]}" "${limit:-?}" "$pid" "$name" >>"$FD_TOP"
    done <"$WORK/fd_cand"
}

read -r -d '' AWK_FDS <"$LIB/fds.awk"

section_fds() {
    OUT="$WORK/fds"
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.fds" -v app_emfile="${APP_EMFILE:-0}" "$AWK_FIND $AWK_FDS" \
        "$WORK/p.sys_fs_file-nr" "$FD_TOP" >"$OUT"
    IFS= read -r FD_WORST <"$WORK/vars.fds" || FD_WORST=""; FD_WORST=${FD_WORST#FD_WORST=}
    add_section fds "File descriptors" "/proc/sys/fs/file-nr; /proc/<pid>/fd and limits of the $FD_CANDIDATES largest fd tables" "cap:4096:2" "$OUT"
}
