function cpu_total(a,   i, t) { t = 0; for (i = 2; i <= 9; i++) t += a[i]; return t }
FILENAME ~ /s1\.stat$/ && $1 == "cpu" { split($0, c1, / +/) }
FILENAME ~ /s2\.stat$/ && $1 == "cpu" { split($0, c2, / +/) }
FILENAME ~ /s2\.stat$/ && $1 == "procs_running" { running = $2 }
FILENAME ~ /s2\.stat$/ && $1 == "procs_blocked" { blocked = $2 }
FILENAME ~ /pressure_cpu$/ && $1 == "some" { psi = $0; split($2, a, "="); psi10 = a[2] + 0; havepsi = 1 }
END {
    printf "interval: %d ms, %d CPUs\n", ms, cpus
    if (c1[1] != "" && c2[1] != "") {
        t = cpu_total(c2) - cpu_total(c1)
        over = sprintf("over %.1f s", ms / 1000)
        if (t <= 0) {
            # The two samples are identical (never on a live kernel; a copied /proc/stat):
            # fall back to the shares since boot.
            t = cpu_total(c1); for (i = 2; i <= 9; i++) c1[i] = 0
            over = "since boot (the two samples of /proc/stat were identical)"
        }
        if (t > 0) {
            idle = pct(c2[5] - c1[5], t); iow = pct(c2[6] - c1[6], t); steal = pct(c2[9] - c1[9], t)
            user = pct(c2[2] + c2[3] - c1[2] - c1[3], t); sys = pct(c2[4] + c2[7] + c2[8] - c1[4] - c1[7] - c1[8], t)
            busy = 100 - idle - iow - steal
            printf "cpu:      busy %.0f %% (user %.0f %%, system %.0f %%), iowait %.0f %%, steal %.0f %%, idle %.0f %% %s\n", busy, user, sys, iow, steal, idle, over
        }
    } else print "cpu:      /proc/stat could not be sampled"
    if (running != "") printf "run queue: %d running, %d blocked in I/O (procs_running, procs_blocked)\n", running, blocked
    print "psi cpu:  " (havepsi ? psi : "not available (kernel without PSI)")
    if (t > 0 && steal >= 10)
        fnd(steal >= 30 ? "critical" : "warning", "cpu-steal", "cpu", sprintf("steal %.0f %% of CPU time %s: the hypervisor gives this VM's CPU to others (noisy neighbour)", steal, over), "")
    sat = havepsi ? psi10 >= 40 : running > 2 * cpus
    if ((t <= 0 || busy + steal >= 90) && sat)
        fnd(havepsi && psi10 >= 75 ? "critical" : "warning", "cpu-saturated", "cpu",
            havepsi ? sprintf("CPU busy %.0f %% and tasks waited for a CPU %.0f %% of the last 10 s (PSI cpu some avg10)", busy, psi10) \
                    : sprintf("CPU busy %.0f %% with %d runnable tasks on %d CPUs", busy, running, cpus), "")
}
