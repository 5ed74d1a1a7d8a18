# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Out of process slots (RLIMIT_NPROC): no fork, no temp dir, no awk, not even a command
# substitution. A small report from builtins only, with the finding that explains it.

# Sets PROC_VALUE to the value of "Key:" in a /proc file (first match), with builtins.
proc_value() { # file key
    local k v _
    PROC_VALUE=""
    while read -r k v _; do [ "$k" = "$2" ] && { PROC_VALUE=$v; return 0; }; done 2>/dev/null <"$1"
    return 1
}

report_without_forking() {
    DEGRADED=1
    local host="unknown" load1="" rest="" threads total avail body jhost jmsg jbody
    read -r host 2>/dev/null <"$PROC_ROOT/sys/kernel/hostname"
    read -r load1 _ _ rest _ 2>/dev/null <"$PROC_ROOT/loadavg"
    threads=${rest#*/}
    proc_value "$PROC_ROOT/meminfo" MemTotal:; total=$PROC_VALUE
    proc_value "$PROC_ROOT/meminfo" MemAvailable:; avail=$PROC_VALUE
    body="$NPROC_WHY; threads on the node: ${threads:-?}; load ${load1:-?}; MemAvailable ${avail:-?} of ${total:-?} kB. Nothing else was collected: too few process slots are left to start any program."
    json_var jhost "$host" 256
    json_var jmsg "$NPROC_WHY: new processes and threads cannot be created" 300
    json_var jbody "$body" 2000
    printf '{"version":"%s","host":%s,"collected_at":null,"event_time":null,"findings":[' "$TASK_VERSION" "$jhost"
    printf '{"severity":"critical","code":"process-limit","message":%s,"section":"host"}' "$jmsg"
    printf '],"sections":[{"id":"host","title":"Host (builtins only: out of process slots)","command":"/proc/loadavg, /proc/meminfo, /proc/[0-9]*","body":%s,"truncated":false}],' "$jbody"
    printf '"redactions":0,"max_bytes":262144,"truncated":false}\n'
}
