# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# What the application said around the event: error lines counted, repeated errors
# grouped by signature (numbers, ids, hex and uuids masked), and the usual causes
# recognised by their message (refused/reset/timeouts to a named peer, DNS, TLS, fd and
# port exhaustion, runtime OOM, disk full, read-only filesystem, thread/process limits),
# then cross-checked against the node (listeners, sockets, fds, ports, disks, clock).

readonly APP_BEFORE=600        # seconds of log before the event that are analysed
readonly APP_AFTER=120         # and after
readonly APP_READ_BYTES=4194304

read -r -d '' AWK_APPLOG <"$LIB/applog.awk"

analyse_app() {
    APP_OUT="$WORK/app_errors"; APP_CAUSES="$WORK/app_causes"; : >"$APP_CAUSES"; : >"$WORK/vars.app"
    APP_EMFILE=0; APP_TLS_TIME=0
    if [ -z "$LOG_CANON" ]; then
        echo "no application log to analyse${LOG_VERDICT:+ (${LOG_VERDICT#* })}" >"$APP_OUT"; return
    fi
    local window=$APP_READ_BYTES k v
    [ "$LOG_SIZE" -lt "$window" ] && window=$LOG_SIZE
    tail -c "$window" /dev/fd/4 | drop_partial_first_line "$LOG_SIZE" "$window" |
        awk -v ev="$EV" -v tzoff="$TZOFF" -v evyear="$EVYEAR" -v before="$APP_BEFORE" -v after="$APP_AFTER" \
            -v ffile="$FINDINGS_TSV" -v causefile="$APP_CAUSES" -v vfile="$WORK/vars.app" "$AWK_TIME $AWK_FIND $AWK_APPLOG" >"$APP_OUT"
    while IFS='=' read -r k v; do [ "$k" = APP_TLS_TIME ] && APP_TLS_TIME=$v; done <"$WORK/vars.app"
    grep -q '^app-too-many-open-files' "$APP_CAUSES" && APP_EMFILE=1
    return 0
}

is_local_host() {
    case $1 in
        127.*|localhost|localhost.*|::1|\[::1\]|0.0.0.0|"${HOST_NAME%%.*}"|"$HOST_NAME") return 0 ;;
    esac
    return 1
}

# What the node itself confirms: NODE_SEV[code] = the best rank (0 critical, 1 warning,
# 2 info) of each finding the node sections raised so far. Builtins only.
node_confirms() {
    local rank _d _s code _rest
    NODE_SEV=()
    while IFS=$'\t' read -r rank _d _s code _rest; do
        [[ $code == app-* ]] && continue
        if [ -z "${NODE_SEV[$code]:-}" ] || [ "$rank" -lt "${NODE_SEV[$code]}" ]; then NODE_SEV[$code]=$rank; fi
    done <"$FINDINGS_TSV"
}
# Sets conf (the caller's) to the first of the codes the node raised as critical or
# warning; false when none (no subshell: this runs once per recognised cause).
confirmed_by() {
    local c
    conf=""
    for c in "$@"; do [ "${NODE_SEV[$c]:-9}" -le 1 ] && { conf=$c; return 0; }; done
    return 1
}

# Sets FS_MOUNT and FS_PCT to the filesystem (df, space) holding the first absolute path
# in the text $1, or empty: the failing path's own filesystem, not any full one.
fs_of_path() {
    local path="" pct mnt pre best=""
    FS_MOUNT="" FS_PCT=""
    [[ $1 =~ (^|[^A-Za-z0-9_.])(/[A-Za-z0-9_.@+-]+(/[A-Za-z0-9_.@+-]*)*) ]] && path=${BASH_REMATCH[2]}
    [ -n "$path" ] && [ -r "$WORK/df_use" ] || return 0
    while IFS=$'\t' read -r pct mnt; do
        pre=${mnt%/}/
        case $path/ in "$pre"*) [ "${#mnt}" -gt "${#best}" ] && { best=$mnt; FS_PCT=$pct; } ;; esac
    done <"$WORK/df_use"
    FS_MOUNT=$best
}

# One finding per recognised cause, its severity from how often it was seen and what the
# node confirms: an application's claim about a node resource (memory, disk, fds, ports)
# is critical only when the node shows it too, else a warning that says what the node
# shows instead; an errno that names one limit unambiguously (EAGAIN from fork, EMFILE)
# is the kernel's own answer and stays critical.
correlate_app() {
    local code count peer at sample sev msg port host ns conf waited="" waitlock="" timeouts=0
    declare -A NODE_SEV
    node_confirms
    # what a job killed at its time limit waited on: the peer the app timed out on
    while IFS=$'\037' read -r code count peer at near early sample; do
        case $code in
            app-waiting) [ -n "$peer" ] && waited=$peer; case ${sample,,} in *lock*) waitlock="a lock" ;; esac ;;
            app-timeout|app-connection-reset) [ -n "$peer" ] && [ -z "$waited" ] && waited=$peer ;;
        esac
        case $code in worker-timeout|worker-softlimit) timeouts=$((timeouts + count)) ;; esac
    done <"$APP_CAUSES"
    # fields split on US (\037): a tab is IFS whitespace, and empty fields would collapse
    while IFS=$'\037' read -r code count peer at near early sample; do
        sev=warning; msg=""
        case $code in
            app-connection-refused)
                # one or two refusals minutes away from the event are retries, not the cause
                [ "$count" -ge 3 ] && sev=critical
                if [ "$count" -lt 3 ] && [ -n "$at" ] && [ $(((at - EV) * (at - EV))) -gt 14400 ]; then sev=info; fi
                msg="connection refused $count time(s)${peer:+ to $peer}"
                if [ -n "$peer" ]; then
                    port=${peer##*:}; host=${peer%:*}
                    if is_local_host "$host"; then
                        case $LISTEN_PORTS in *" $port "*) msg="$msg; a listener exists on :$port now" ;;
                            *) msg="$msg; nothing listens on :$port on this node"; sev=critical ;; esac
                    else
                        msg="$msg; ${EST_BY_PORT[$port]:-0} established connection(s) to port $port now"
                    fi
                fi ;;
            app-connection-reset) sev=info; [ "$count" -ge 10 ] && sev=warning; msg="connection reset $count time(s)${peer:+ by $peer}" ;;
            app-timeout) sev=info; [ "$count" -ge 5 ] && sev=warning; [ "$count" -ge 20 ] && sev=critical; msg="timeouts $count time(s)${peer:+ to $peer}" ;;
            app-dns-failure) [ "$count" -ge 3 ] && sev=critical
                ns=$(awk '$1 == "nameserver" { printf "%s%s", s, $2; s = ", " }' /etc/resolv.conf 2>/dev/null)
                msg="name resolution failed $count time(s)${peer:+ for $peer}; nameservers: ${ns:-none in /etc/resolv.conf}" ;;
            app-tls-error) [ "$count" -ge 3 ] && sev=critical
                msg="TLS/certificate errors $count time(s)${peer:+ with $peer}" ;;
            app-too-many-open-files) sev=critical; msg="\"Too many open files\" $count time(s)${FD_WORST:+; $FD_WORST}" ;;
            app-ephemeral-ports)
                if confirmed_by ephemeral-ports timewait-overflow; then sev=critical; fi
                msg="\"Cannot assign requested address\" $count time(s)${peer:+ to $peer}${EPH_WORST:+; ephemeral ports: $EPH_WORST}"
                [ "$sev" = critical ] || msg="$msg; the node's ephemeral ports are not near used up" ;;
            app-out-of-memory) sev=critical; msg="the runtime ran out of its memory $count time(s)"
                if confirmed_by oom-kill cgroup-memory-limit overcommit-limit memory-pressure low-memory swap-storm; then msg="$msg; the node shows it too ($conf)"
                else msg="$msg; the node shows no memory shortage: the runtime's own heap cap (-Xmx, --max-old-space-size, memory_limit) or a process limit (ulimit -v)"; fi ;;
            app-oom-syscall) code=app-out-of-memory
                if confirmed_by overcommit-limit; then
                    msg="the application reports running out of memory $count time(s); the node's memory is not exhausted: strict overcommit's commit limit is (overcommit-limit)"
                elif confirmed_by oom-kill cgroup-memory-limit memory-pressure low-memory swap-storm swap-full memory-thrashing; then
                    sev=critical; msg="the application ran out of memory $count time(s); the node confirms it ($conf)"
                else
                    msg="the application reports running out of memory $count time(s); the node shows no OOM kill, memory pressure, low available memory or cgroup memory limit"
                fi ;;
            app-oom-guess) code=app-out-of-memory; sev=info
                msg="a process manager guessed \"out of memory\" $count time(s) after it killed a worker; the node shows no memory problem"
                if [ "$timeouts" -gt 0 ]; then msg="$msg, and the worker was killed at its time limit (worker-timeout)"; fi
                if confirmed_by oom-kill cgroup-memory-limit memory-pressure low-memory swap-storm; then
                    sev=warning; msg="a process manager guessed \"out of memory\" $count time(s) after it killed a worker; the node shows $conf"
                fi ;;
            worker-timeout|worker-softlimit)
                # warning: the limit is the runner's own; the slow thing it waited on is the cause
                msg="a task runner's time limit ended $count job(s) or worker(s) (Celery time limit, gunicorn WORKER TIMEOUT, uWSGI harakiri, PHP max_execution_time, job timeout): they waited too long on "
                if [ -n "$waited$waitlock" ]; then msg="$msg${waitlock}${waitlock:+${waited:+ at }}$waited"
                else msg="${msg}something slow (a dependency or a lock: see the log)"; fi
                if confirmed_by cgroup-cpu-throttled cpu-steal io-saturated high-load; then msg="$msg; the node shows $conf"; fi
                code=worker-timeout ;;
            app-process-limit) sev=critical; msg="threads/processes could not be created $count time(s) (EAGAIN: RLIMIT_NPROC, pids cgroup or pid_max)"
                if confirmed_by pid-exhausted cgroup-pids-limit; then msg="$msg; the node confirms it ($conf)"
                else msg="$msg; the node's thread table and the app's pids cgroup are not full: the app user's RLIMIT_NPROC (LimitNPROC) is the likely limit"; fi ;;
            app-disk-full)
                fs_of_path "$sample"
                if [ -n "$FS_MOUNT" ] && [ "${FS_PCT:-0}" -gt 90 ]; then
                    sev=critical; msg="\"No space left on device\" $count time(s) writing to $FS_MOUNT, which is $FS_PCT % full"
                elif [ -n "$FS_MOUNT" ] && { [ "$FS_MOUNT" != / ] || ! confirmed_by disk-full; }; then
                    # (a path that only maps to / may be a URL path: then any full filesystem counts)
                    msg="the application reports \"No space left on device\" $count time(s) writing under $FS_MOUNT, which is $FS_PCT % full (space; inodes, a quota or another mount namespace?)"
                    if confirmed_by inodes-full; then sev=critical; msg="$msg; the node shows $conf"; fi
                elif confirmed_by disk-full inodes-full; then sev=critical; msg="\"No space left on device\" $count time(s); the node confirms it ($conf)"
                else msg="the application reports \"No space left on device\" $count time(s); no filesystem this node sees is near full (a quota, or a volume of another mount namespace?)"; fi ;;
            app-read-only-fs)
                if [ -n "$RO_MOUNTS" ] || confirmed_by fs-read-only fs-error; then sev=critical; msg="\"Read-only file system\" $count time(s)${RO_MOUNTS:+; read-only now: $RO_MOUNTS}"
                else msg="the application reports \"Read-only file system\" $count time(s); no block-device filesystem is read-only now"; fi ;;
            app-db-connections-exhausted) [ "$count" -ge 3 ] && sev=critical; msg="connection pool / server connection limit hit $count time(s)${peer:+ ($peer)}" ;;
            app-crash) [ "$count" -ge 2 ] && sev=critical; msg="the application crashed (segfault/panic) $count time(s)" ;;
            app-network-unreachable) [ "$count" -ge 3 ] && sev=critical; msg="no route to host / network unreachable $count time(s)${peer:+ to $peer}" ;;
            app-inotify-limit) msg="inotify watches/instances used up $count time(s) (fs.inotify.max_user_watches $(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo ?), max_user_instances $(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo ?)): ENOSPC here is not a full disk" ;;
            app-worker-limit) msg="the server's worker/connection limit was reached $count time(s) (requests queue behind it)" ;;
            app-datastore-full) [ "$count" -ge 3 ] && sev=critical; msg="a datastore refused writes at its own limit $count time(s) (Redis maxmemory/MISCONF, Elasticsearch flood stage)" ;;
            app-permission-denied) sev=info; [ "$count" -ge 3 ] && sev=warning; msg="permission denied $count time(s)" ;;
            *) continue ;;
        esac
        # relevance: timeouts and resets at the same rate all along (a client that retries and
        # succeeds) did not begin or change near the event: the rate in the 4 min around it is
        # at most 1.5 x the rate in the 8 min before (near * 4 <= early * 3), with >= 3 before
        case $code in app-timeout|app-connection-reset)
            if [ "$sev" != info ] && [ "${early:-0}" -ge 3 ] && [ $((${near:-0} * 4)) -le $((${early:-0} * 3)) ]; then
                sev=info; msg="$msg; steady: ${early} in the $(((APP_BEFORE - 120) / 60)) min before, ${near} in the 4 min around the event (not new)"
            fi ;;
        esac
        finding "$sev" "$code" app_errors "$msg; e.g.: ${sample:0:160}" "$at"
    done <"$APP_CAUSES"
    if [ -n "$RO_MOUNTS" ] && [ "${RO_NEAR:-0}" = 0 ]; then
        if [ "${KERNEL_RO:-0}" = 1 ] || grep -q '^app-read-only-fs' "$APP_CAUSES"; then
            finding critical fs-read-only mounts "read-only now after errors: $RO_MOUNTS"
        else
            # no kernel error and no failed write: read-only by design (an archive, fstab ro)
            finding info fs-read-only mounts "block-device filesystem(s) mounted read-only: $RO_MOUNTS (no kernel filesystem error and no failed write: read-only by design, not this event's cause)"
        fi
    fi
}

section_app_errors() {
    correlate_app
    add_section app_errors "What the application said" "error lines, signatures and causes in ${APP_BEFORE} s before to ${APP_AFTER} s after the event (last $((APP_READ_BYTES / 1048576)) MiB of the log)" "cap:12288:5" "$APP_OUT"
}
