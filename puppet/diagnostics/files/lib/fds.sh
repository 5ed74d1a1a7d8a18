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

read -r -d '' AWK_FDS <"$LIB/fds.awk"

section_fds() {
    OUT="$WORK/fds"
    awk -v ev="$EV" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.fds" -v app_emfile="${APP_EMFILE:-0}" "$AWK_FIND $AWK_FDS" \
        "$WORK/p.sys_fs_file-nr" "$FD_TOP" >"$OUT"
    IFS= read -r FD_WORST <"$WORK/vars.fds" || FD_WORST=""; FD_WORST=${FD_WORST#FD_WORST=}
    add_section fds "File descriptors" "/proc/sys/fs/file-nr; /proc/<pid>/fd and limits of the $FD_CANDIDATES largest fd tables" "cap:4096:2" "$OUT"
}
