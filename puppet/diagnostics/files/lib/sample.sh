# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Snapshots of /proc and /sys files, read by the task's own shell with builtins: no fork
# (cheap, and still works when the node is out of process slots), and each counter file
# read exactly twice, one shared interval apart, for every rate the task reports.

readonly SAMPLE_INTERVAL_US=1000000   # the one interval of all two-sample deltas
readonly SAMPLED=(stat vmstat diskstats net/netstat)
readonly SNAPSHOT=(meminfo loadavg uptime pressure/cpu pressure/memory pressure/io net/sockstat mounts
    sys/fs/file-nr sys/net/netfilter/nf_conntrack_count sys/net/netfilter/nf_conntrack_max
    sys/net/ipv4/ip_local_port_range sys/kernel/pid_max sys/kernel/threads-max sys/kernel/hostname
    sys/vm/overcommit_memory sys/vm/overcommit_ratio)

# Copies file $1 to $2 with builtins; an unreadable or missing file gives an empty copy.
snap() {
    local line
    { while IFS= read -r line || [ -n "$line" ]; do printf '%s\n' "$line"; done <"$1"; } >"$2" 2>/dev/null || : >"$2"
}

# Copies land in $WORK/p.<name, / as _> (one-shot) and $WORK/s1.<name>, s2.<name> (samples).

now_us() { local t=${EPOCHREALTIME:-}; if [ -n "$t" ]; then t=${t/./}; printf '%s' "${t/,/}"; else printf '%s000000' "$SECONDS"; fi; }

take_sample() { # 1 or 2
    local f
    [ "$1" = 1 ] && T1_US=$(now_us)
    for f in "${SAMPLED[@]}"; do snap "$PROC_ROOT/$f" "$WORK/s$1.${f//\//_}"; done
    if [ "$1" = 1 ]; then
        for f in "${SNAPSHOT[@]}"; do snap "$PROC_ROOT/$f" "$WORK/p.${f//\//_}"; done
    else
        T2_US=$(now_us)
        INTERVAL_MS=$(((T2_US - T1_US) / 1000)); [ "$INTERVAL_MS" -lt 1 ] && INTERVAL_MS=1
    fi
}

# Waits out what is left of the interval since sample 1 (the collectors ran meanwhile).
finish_interval() {
    local left=$((SAMPLE_INTERVAL_US - ($(now_us) - T1_US)))
    if [ "$left" -gt 0 ]; then run sleep "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))" || true; fi
}

# True when a fork would fail: the node's thread table is (nearly) full (pid_max or
# threads-max; root too), or the effective user is at its RLIMIT_NPROC (root is exempt).
# Then the task must not fork at all (bash would retry each fork for ~15 s), and
# reports that itself.
out_of_process_slots() {
    local limit mine=0 p threads="" pidmax="" thrmax="" _l
    read -r _l _l _l threads _l 2>/dev/null <"$PROC_ROOT/loadavg"
    threads=${threads#*/}
    read -r pidmax 2>/dev/null <"$PROC_ROOT/sys/kernel/pid_max"
    read -r thrmax 2>/dev/null <"$PROC_ROOT/sys/kernel/threads-max"
    [ -n "$thrmax" ] && { [ -z "$pidmax" ] || [ "$thrmax" -lt "$pidmax" ]; } && pidmax=$thrmax
    if [[ $threads =~ ^[0-9]+$ ]] && [[ $pidmax =~ ^[0-9]+$ ]] && [ $((pidmax - threads)) -lt 16 ]; then
        NPROC_WHY="the node runs $threads threads of its limit $pidmax (pid_max/threads-max)"
        return 0
    fi
    # The pids cgroup (systemd TasksMax, containers) limits root too.
    local line cg="" max="" cur=""
    while IFS= read -r line; do
        case $line in *:pids:*) cg=/sys/fs/cgroup/pids${line#*:pids:} ;; 0::*) [ -z "$cg" ] && cg=/sys/fs/cgroup${line#0::} ;; esac
    done 2>/dev/null <"$PROC_ROOT/self/cgroup"
    if [ -n "$cg" ]; then
        read -r max 2>/dev/null <"$cg/pids.max"; read -r cur 2>/dev/null <"$cg/pids.current"
        if [[ $max =~ ^[0-9]+$ ]] && [[ $cur =~ ^[0-9]+$ ]] && [ $((max - cur)) -lt 4 ]; then
            NPROC_WHY="the task's pids cgroup holds $cur tasks of its limit $max (pids.max)"
            return 0
        fi
    fi
    [ "${EUID:-0}" = 0 ] && return 1
    limit=""
    while IFS= read -r line; do
        case $line in "Max processes"*) read -r limit _ <<<"${line#Max processes}"; break ;; esac
    done 2>/dev/null <"$PROC_ROOT/self/limits"
    [[ $limit =~ ^[0-9]+$ ]] || return 1
    for p in /proc/[0-9]*; do [ -O "$p" ] && mine=$((mine + 1)); done
    NPROC_WHY="user $EUID runs $mine processes of its limit $limit (RLIMIT_NPROC)"
    [ $((limit - mine)) -lt 4 ]
}
