# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# File descriptors: the system table (file-nr against file-max) and the processes closest
# to their own RLIMIT_NOFILE, which is where "Too many open files" usually comes from.

readonly FD_CANDIDATES=8   # processes (largest fd tables) whose fds are counted

# Largest fd tables from /proc/<pid>/status FDSize (cheap), then real counts and limits.
gather_fds() {
    FD_TOP="$WORK/fd_top"; : >"$FD_TOP"
    local pid name fds limit line
    cat /proc/[0-9]*/status 2>/dev/null | awk '$1 == "Name:" { n = $2 } $1 == "Pid:" { p = $2 } $1 == "FDSize:" { print $2, p, n }' |
        sort -rn | head -n "$FD_CANDIDATES" >"$WORK/fd_cand"
    while read -r _ pid name; do
        fds=(/proc/"$pid"/fd/*)
        [ -e "${fds[0]}" ] || continue
        limit=""
        while IFS= read -r line; do
            case $line in "Max open files"*) read -r limit _ <<<"${line#Max open files}"; break ;; esac
        done <"/proc/$pid/limits"
        printf '%s\t%s\t%s\t%s\n' "${#fds[@]}" "${limit:-?}" "$pid" "$name" >>"$FD_TOP"
    done <"$WORK/fd_cand"
}

read -r -d '' AWK_FDS <<'AWK'
FILENAME ~ /file-nr$/ { alloc = $1; max = $3 }
FILENAME ~ /fd_top$/ { top[++n] = $0; split($0, f, "\t"); if (f[2] + 0 > 0 && f[1] / f[2] > worst) { worst = f[1] / f[2]; wl = f[4] " (pid " f[3] ") has " f[1] " open files of its limit " f[2] } }
END {
    if (max != "") printf "system: %s file handles allocated of %s (file-nr)\n", alloc, max
    print "open fds\tlimit\tpid\tcommand"
    for (i = 1; i <= n; i++) print top[i]
    if (max + 0 > 0 && alloc / max >= 0.8)
        fnd(alloc / max >= 0.95 ? "critical" : "warning", "fd-exhausted", "fds", sprintf("%d of %.0f system file handles in use (%d %%)", alloc, max, pct(alloc, max)), "")
    if (worst >= 0.9) fnd(worst >= 0.97 || app_emfile ? "critical" : "warning", "fd-limit", "fds", wl, "")
    print "FD_WORST=" wl > vfile
}
AWK

section_fds() {
    OUT="$WORK/fds"
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.fds" -v app_emfile="${APP_EMFILE:-0}" "$AWK_FIND $AWK_FDS" \
        "$(pfile sys/fs/file-nr)" "$FD_TOP" >"$OUT"
    IFS= read -r FD_WORST <"$WORK/vars.fds" || FD_WORST=""; FD_WORST=${FD_WORST#FD_WORST=}
    add_section fds "File descriptors" "/proc/sys/fs/file-nr; /proc/<pid>/fd and limits of the $FD_CANDIDATES largest fd tables" "$(cap_of 4096 2)" "$OUT"
}
