# Input: /proc/mounts (copy), then the findings TSV (rank, dist, sev, code, section, at, msg).
# Output: the same rows, severities judged for relevance, rank = severity * 10 + class
# (0 node evidence confirming the application's own error, 1 other node evidence, 2 node
# state that follows from other evidence, 3 application-log cause, 4 application symptom
# summary).
BEGIN {
    FS = OFS = "\t"
    while ((getline line < causes) > 0) { split(line, f, "\037"); app[f[1]] = 1 }
    close(causes)
    wrote_fail = ("app-disk-full" in app) || ("app-datastore-full" in app) || ("app-read-only-fs" in app)
    # the node finding that confirms the application's own error comes first among equals
    split("app-read-only-fs:fs-read-only app-disk-full:disk-full app-disk-full:inodes-full app-oom-syscall:oom-kill app-oom-syscall:cgroup-memory-limit app-oom-syscall:overcommit-limit app-out-of-memory:oom-kill app-out-of-memory:cgroup-memory-limit app-process-limit:pid-exhausted app-process-limit:cgroup-pids-limit app-too-many-open-files:fd-limit app-too-many-open-files:fd-exhausted app-ephemeral-ports:ephemeral-ports", pairs, " ")
    for (i in pairs) { split(pairs[i], pr, ":"); if (pr[1] in app) tied[pr[2]] = 1 }
}
FILENAME == mounts { split($0, m, " "); if (m[4] ~ /^ro(,|$)/) ro[m[2]] = 1; next }
function set(sev, why) {
    if (sev == "info" && $3 != "info" || sev == "warning" && $3 == "critical") { $3 = sev; $7 = $7 " — " why }
}
{
    code = $4; msg = $7
    if (code == "disk-full" || code == "inodes-full") {
        mnt = msg; sub(/ is [0-9]+ % full.*/, "", mnt)
        if (mnt in ro) set("info", "mounted read-only: nothing writes there, so not this event's cause")
        else if (!wrote_fail) set("warning", "the application reported no failed write")
    }
    if (code == "hung-task" && match(msg, /blocked for more than [0-9]+ seconds/)) {
        s = substr(msg, RSTART + 22, RLENGTH - 30) + 0
        if (s >= 3600) set("info", sprintf("blocked for %.0f h: long-standing, not this event's cause", s / 3600))
    }
    r = $3 == "critical" ? 0 : $3 == "warning" ? 1 : 2
    # a node state that follows from another finding (little memory available, a saturated
    # disk, a high load, a service that was restarted) ranks after the stall or event that
    # explains it, at the same severity
    c = code ~ /^app-(errors|error-spike)$/ ? 4 : code ~ /^app-/ ? 3 : code ~ /^(low-memory|swap-full|io-saturated|blocked-tasks|disk-busy|high-load|service-restarted)$/ ? 2 : (code in tied) ? 0 : 1
    $1 = r * 10 + c
    print
}
