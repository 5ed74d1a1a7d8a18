# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# The failing process's own limits: the cgroup (v2, or v1 per controller) of the process
# that holds the application log open, and its parents up to the root (a pod or slice
# may hold the quota). CPU quota throttling as deltas of cpu.stat over the shared sample;
# memory.events (high/max/oom/oom_kill) and pids.events (max) with their limits. Read with
# builtins; only the app's own cgroups, so a throttled neighbour is not this event's cause.

readonly CG_ROOT=/sys/fs/cgroup
readonly CG_LEVELS=6   # the app's cgroup and at most 5 parents

# Sets CG_PID (the app: a process with the log open) and CG_DIRS (its cgroup dirs, leaf first).
find_app_cgroup() {
    CG_PID="" CG_DIRS=() CG_UNIT=""
    local canon pat fd pid line ctl path d i
    [ -n "${LOG_PATH:-}" ] || return 0
    canon=$(realpath -e -- "$LOG_PATH" 2>/dev/null) || return 0
    pat=${canon//\\/\\\\}; pat=${pat//\*/\\*}; pat=${pat//\?/\\?}; pat=${pat//\[/\\[}
    # the writers of the log (at most 8 looked at): the first one in a cgroup of its own (a
    # unit, a container) rather than the root one
    while IFS= read -r fd; do
        pid=${fd#/proc/}; pid=${pid%%/*}
        [ "$pid" = "$$" ] && continue
        [ "$fd" -ef "$canon" ] || continue   # the same file (device and inode), not a namesake
        [ -z "$CG_PID" ] && CG_PID=$pid
        while IFS= read -r line; do
            case $line in *:/) ;; *:/*) CG_PID=$pid; break 2 ;; esac
        done 2>/dev/null <"/proc/$pid/cgroup"
    done < <(run find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname "$pat" -print 2>/dev/null | head -n 8)
    [ -n "$CG_PID" ] || return 0
    while IFS= read -r line; do
        ctl=${line#*:}; path=${ctl#*:}; ctl=${ctl%%:*}
        case $ctl in
            "") d=$CG_ROOT ;;                                   # v2: 0::/path
            *cpu,*|cpu|*,cpu|*memory*|pids) d=$CG_ROOT/$ctl ;;  # v1 controllers we read
            *) continue ;;
        esac
        [ -d "$d" ] || { [ "$ctl" = "cpu,cpuacct" ] && [ -d "$CG_ROOT/cpu" ] && d=$CG_ROOT/cpu; } || continue
        [ -z "$CG_UNIT" ] && [ "$path" != / ] && CG_UNIT=$path
        i=0
        while [ "$i" -lt "$CG_LEVELS" ]; do
            [ -z "$path" ] || [ "$path" = / ] && break   # a root cgroup has no limits
            [ -d "$d$path" ] && CG_DIRS+=("$d${path%/}")
            path=${path%/*}; i=$((i + 1))
        done
    done 2>/dev/null <"/proc/$CG_PID/cgroup"
}

# Counter files of the app's cgroups, read once per sample (deltas over the shared interval).
sample_cgroup() { # 1 or 2
    local i=0 d f
    for d in "${CG_DIRS[@]}"; do
        i=$((i + 1))
        for f in cpu.stat memory.events pids.events; do [ -r "$d/$f" ] && snap "$d/$f" "$WORK/s$1.cg$i.$f"; done
        [ "$1" = 1 ] || continue
        for f in cpu.max cpu.cfs_quota_us cpu.cfs_period_us memory.max memory.high memory.current memory.limit_in_bytes \
            memory.usage_in_bytes memory.failcnt memory.oom_control memory.pressure pids.max pids.current; do
            [ -r "$d/$f" ] && snap "$d/$f" "$WORK/p.cg$i.$f"
        done
    done
}

read -r -d '' AWK_CGROUP <"$LIB/cgroup.awk"

section_cgroup() {
    OUT="$WORK/cgroup"; : >"$OUT"
    local i=0 d
    if [ -z "$CG_PID" ]; then
        echo "no process holds the application log open${LOG_PATH:+ ($LOG_PATH)}: the app's cgroup is unknown" >"$OUT"
    elif [ "${#CG_DIRS[@]}" = 0 ]; then
        echo "pid $CG_PID holds the log open; it runs in root cgroups only (no limits of its own under $CG_ROOT)" >"$OUT"
    else
        for d in "${CG_DIRS[@]}"; do i=$((i + 1)); d=${d#"$CG_ROOT"}; printf '%s\n' "${d:-/}"; done >"$WORK/cg.dirs"
        awk -v ev="$EV" -v ms="$INTERVAL_MS" -v ffile="$FINDINGS_TSV" -v pid="$CG_PID" -v work="$WORK" \
            -v causes="$APP_CAUSES" "$AWK_FIND $AWK_CGROUP" "$WORK/cg.dirs" >"$OUT" 2>/dev/null
    fi
    add_section cgroup "Limits of the application's cgroup" "/proc/<pid holding the log>/cgroup; cpu.stat twice ${INTERVAL_MS} ms apart, memory.events, pids.events and limits up the tree" "cap:4096:2" "$OUT"
}
