# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Host identity, uptime against the event time (a reboot just before the error), and
# process slots (threads against pid_max / threads-max).

read -r -d '' AWK_HOST <"$LIB/host.awk"

section_host() {
    OUT="$WORK/host"; : >"$OUT"
    local fqdn k v
    fqdn=$(run hostname -f 2>/dev/null) || fqdn=""
    [ -n "$fqdn" ] || read -r fqdn <"$WORK/p.sys_kernel_hostname" || fqdn=""
    HOST_NAME=${fqdn:-unknown}
    {
        echo "host:    $HOST_NAME"
        echo "kernel:  $(run uname -srmo 2>/dev/null || run uname -a 2>/dev/null)"
        [ -r /etc/os-release ] && echo "os:      $(awk -F= '$1 == "PRETTY_NAME" { gsub(/"/, "", $2); print $2 }' /etc/os-release)"
        awk -v ev="$EV" -v now="$NOW" -v window="$((CHANGE_WINDOW * 60))" -v ffile="$FINDINGS_TSV" -v vfile="$WORK/vars.host" \
            "$AWK_TIME $AWK_FIND $AWK_HOST" "$WORK/s1.stat" "$WORK/p.loadavg" "$WORK/p.uptime" \
            "$WORK/p.sys_kernel_pid_max" "$WORK/p.sys_kernel_threads-max"
    } >>"$OUT"
    while IFS='=' read -r k v; do
        case $k in CPUS) CPUS=$v ;; BTIME) BTIME=$v ;; esac
    done <"$WORK/vars.host"
    add_section host "Host" "hostname -f; uname -srmo; /proc/uptime, loadavg, stat btime; pid_max, threads-max" "cap:4096:2" "$OUT"
}
