FILENAME ~ /s1\.stat$/ && $1 == "btime" { btime = $2 }
FILENAME ~ /s1\.stat$/ && $1 ~ /^cpu[0-9]+$/ { cpus++ }
FILENAME ~ /p\.loadavg$/ { l1 = $1; l5 = $2; l15 = $3; split($4, rt, "/"); threads = rt[2] }
FILENAME ~ /p\.uptime$/ { up = int($1) }
FILENAME ~ /pid_max$/ { pidmax = $1 }
FILENAME ~ /threads-max$/ { thrmax = $1 }
END {
    if (!cpus) cpus = 1
    if (!btime && up) btime = now - up
    if (!up && btime) up = now - btime
    # On a live node btime = now - uptime (to the second). When they disagree, the files
    # were copied from elsewhere (a snapshot, a test fixture): /proc/uptime is then read
    # as taken just after the event, the moment the task is meant to run.
    if (up && btime && (btime - (now - up) > 600 || (now - up) - btime > 600)) {
        anchor = now < ev ? now : ev
        btime = anchor - up
        print "note:    /proc/stat btime and /proc/uptime disagree; boot time taken from uptime at the event"
    }
    printf "uptime:  %dd %dh %dm (booted %s)\n", up / 86400, up % 86400 / 3600, up % 3600 / 60, btime ? iso_of(btime) : "?"
    printf "load:    %s %s %s (1/5/15 min) on %d CPUs\n", l1 == "" ? "?" : l1, l5 == "" ? "?" : l5, l15 == "" ? "?" : l15, cpus
    lim = pidmax; if (thrmax != "" && (lim == "" || thrmax + 0 < lim + 0)) lim = thrmax
    if (threads != "") printf "threads: %d of %s (pid_max %s, threads-max %s)\n", threads, lim == "" ? "?" : lim, pidmax == "" ? "?" : pidmax, thrmax == "" ? "?" : thrmax
    if (threads != "" && lim + 0 > 0 && threads >= 0.9 * lim)
        fnd("critical", "pid-exhausted", "host", sprintf("%d threads of %d possible (%d %%): fork and thread creation fail", threads, lim, pct(threads, lim)), "")
    if (l1 != "" && l1 > 4 * cpus)
        fnd("warning", "high-load", "host", sprintf("load average %s is more than 4 times the %d CPUs", l1, cpus), "")
    else if (l1 != "" && l1 > 2 * cpus)
        fnd("info", "high-load", "host", sprintf("load average %s is more than twice the %d CPUs", l1, cpus), "")
    if (btime) {
        d = ev - btime
        if (d >= 0 && d <= 900) fnd("critical", "recent-reboot", "host", sprintf("the node booted %s before the event (%s)", span(d), iso_of(btime)), btime)
        else if (d >= 0 && d <= window) fnd("warning", "recent-reboot", "host", sprintf("the node booted %s before the event (%s)", span(d), iso_of(btime)), btime)
        else if (d < 0) fnd("info", "rebooted-after-event", "host", sprintf("the node booted %s after the event: kernel messages of the event time are gone", span(-d)), btime)
    }
    print "CPUS=" cpus > vfile; print "BTIME=" int(btime) > vfile
}
