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

# One finding per recognised cause, its severity from how often it was seen and what the
# node confirms.
correlate_app() {
    local code count peer at sample sev msg port host ns
    # fields split on US (\037): a tab is IFS whitespace, and empty fields would collapse
    while IFS=$'\037' read -r code count peer at sample; do
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
            app-ephemeral-ports) sev=critical; msg="\"Cannot assign requested address\" $count time(s)${peer:+ to $peer}${EPH_WORST:+; ephemeral ports: $EPH_WORST}" ;;
            app-out-of-memory) sev=critical; msg="the runtime ran out of memory $count time(s)" ;;
            app-process-limit) sev=critical; msg="threads/processes could not be created $count time(s) (RLIMIT_NPROC, pids cgroup or pid_max)" ;;
            app-disk-full) sev=critical; msg="\"No space left on device\" $count time(s)" ;;
            app-read-only-fs) sev=critical; msg="\"Read-only file system\" $count time(s)${RO_MOUNTS:+; read-only now: $RO_MOUNTS}" ;;
            app-db-connections-exhausted) [ "$count" -ge 3 ] && sev=critical; msg="connection pool / server connection limit hit $count time(s)${peer:+ ($peer)}" ;;
            app-crash) [ "$count" -ge 2 ] && sev=critical; msg="the application crashed (segfault/panic) $count time(s)" ;;
            app-network-unreachable) [ "$count" -ge 3 ] && sev=critical; msg="no route to host / network unreachable $count time(s)${peer:+ to $peer}" ;;
            app-inotify-limit) msg="inotify watches/instances used up $count time(s) (fs.inotify.max_user_watches $(cat /proc/sys/fs/inotify/max_user_watches 2>/dev/null || echo ?), max_user_instances $(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo ?)): ENOSPC here is not a full disk" ;;
            app-worker-limit) msg="the server's worker/connection limit was reached $count time(s) (requests queue behind it)" ;;
            app-datastore-full) [ "$count" -ge 3 ] && sev=critical; msg="a datastore refused writes at its own limit $count time(s) (Redis maxmemory/MISCONF, Elasticsearch flood stage)" ;;
            app-permission-denied) sev=info; [ "$count" -ge 3 ] && sev=warning; msg="permission denied $count time(s)" ;;
            *) continue ;;
        esac
        finding "$sev" "$code" app_errors "$msg: ${sample:0:160}" "$at"
    done <"$APP_CAUSES"
    if [ -n "$RO_MOUNTS" ] && [ "${RO_NEAR:-0}" = 0 ]; then
        if [ "${KERNEL_RO:-0}" = 1 ] || grep -q '^app-read-only-fs' "$APP_CAUSES"; then
            finding critical fs-read-only mounts "read-only now after errors: $RO_MOUNTS"
        else
            finding warning fs-read-only mounts "block-device filesystem(s) mounted read-only: $RO_MOUNTS"
        fi
    fi
}

section_app_errors() {
    correlate_app
    add_section app_errors "What the application said" "error lines, signatures and causes in ${APP_BEFORE} s before to ${APP_AFTER} s after the event (last $((APP_READ_BYTES / 1048576)) MiB of the log)" "cap:12288:5" "$APP_OUT"
}
