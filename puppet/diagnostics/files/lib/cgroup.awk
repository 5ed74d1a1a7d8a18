# Input: the app's cgroup dirs, leaf first (line i = files $work/{s1,s2,p}.cg<i>.*).
# Findings (see cgroup.sh): each claims only what moved during the shared sample;
# counters that did not move are history (info at most, their time unknown).
#   cgroup-cpu-throttled: critical when nearly every period of the sample was throttled
#     (>= 90 %), warning >= 25 %;
#   cgroup-memory-limit: critical when oom/oom_kill rose, warning when high/max rose with
#     memory.current at memory.high/max;
#   cgroup-pids-limit: critical when pids.events max rose or pids.current is at pids.max.
function kv(file, a,   line, f, n) {
    split("", a); n = 0
    while ((getline line < file) > 0) { split(line, f, " "); a[f[1]] = f[2]; n++ }
    close(file); return n
}
function one(file,   line) { line = ""; if ((getline line < file) <= 0) line = ""; close(file); return line }
function cpus(q) { return sprintf("%.2g CPU", q) }
function mb(b) { return int(b / 1048576) " MiB" }
BEGIN {
    while ((getline line < causes) > 0) { split(line, f, "\037"); app[f[1]] = f[2] }
    close(causes)
    # the node's own CPU idle over the same interval and its available memory: what the
    # unit waits for is its limit, not the node
    if ((getline line < (work "/s1.stat")) > 0) { split(line, a, " "); close(work "/s1.stat") }
    if ((getline line < (work "/s2.stat")) > 0) { split(line, b, " "); close(work "/s2.stat") }
    for (k = 2; k <= 9; k++) { tot += b[k] - a[k] }
    idle = tot > 0 ? 100 * (b[5] - a[5] + b[6] - a[6]) / tot : -1
    while ((getline line < (work "/p.meminfo")) > 0) { split(line, f, " "); mi[f[1]] = f[2] }
    availp = mi["MemTotal:"] > 0 ? 100 * mi["MemAvailable:"] / mi["MemTotal:"] : -1
}
{
    i = NR; d = $0; base = work "/"
    printf "%s\n", d
    # CPU: quota and throttling over the shared interval (v2 throttled_usec, v1 throttled_time ns)
    quota = ""
    q = one(base "p.cg" i ".cpu.max"); split(q, f, " ")
    if (f[1] ~ /^[0-9]+$/ && f[2] > 0) quota = f[1] / f[2]
    qv1 = one(base "p.cg" i ".cpu.cfs_quota_us") + 0; pv1 = one(base "p.cg" i ".cpu.cfs_period_us") + 0
    if (qv1 > 0 && pv1 > 0) quota = qv1 / pv1
    if (kv(base "s1.cg" i ".cpu.stat", c1) && kv(base "s2.cg" i ".cpu.stat", c2)) {
        dp = c2["nr_periods"] - c1["nr_periods"]; dt = c2["nr_throttled"] - c1["nr_throttled"]
        tus = ("throttled_usec" in c2) ? c2["throttled_usec"] - c1["throttled_usec"] : (c2["throttled_time"] - c1["throttled_time"]) / 1000
        printf "  cpu: quota %s; throttled in %d of %d periods over %.1f s (%.0f ms throttled); since created: %d of %d periods\n", quota == "" ? "none" : cpus(quota), dt, dp, ms / 1000, tus / 1000, c2["nr_throttled"], c2["nr_periods"]
        if (!cpu_done && dp > 0 && dt > 0 && dt / dp >= 0.25) {
            cpu_done = 1
            fnd(dt / dp >= 0.9 ? "critical" : "warning", "cgroup-cpu-throttled", "cgroup", sprintf("the app's cgroup %s (pid %s) was CPU-throttled in %d of %d periods (%.0f %%, %.0f ms) over %.1f s%s while the node was %s idle: it waits for its CPU quota, not for the node", d, pid, dt, dp, pct(dt, dp), tus / 1000, ms / 1000, quota == "" ? "" : ", quota " cpus(quota), idle < 0 ? "?" : sprintf("%.0f %%", idle)), "")
        } else if (!cpu_done && c2["nr_throttled"] > 0 && dt <= 0) {
            cpu_done = 1
            fnd("info", "cgroup-cpu-throttled", "cgroup", sprintf("the app's cgroup %s was throttled in %d of %d periods since it was created, none during the sample: history, not this event", d, c2["nr_throttled"], c2["nr_periods"]), "")
        }
    }
    # memory: v2 memory.events (+ max/high/current), v1 oom_control/failcnt (+ limit/usage)
    lim = one(base "p.cg" i ".memory.max"); high = one(base "p.cg" i ".memory.high"); cur = one(base "p.cg" i ".memory.current")
    if (lim == "") { lim = one(base "p.cg" i ".memory.limit_in_bytes"); cur = one(base "p.cg" i ".memory.usage_in_bytes") }
    if (lim !~ /^[0-9]+$/ || lim + 0 >= 2 ^ 60) lim = ""
    if (high !~ /^[0-9]+$/) high = ""
    at_lim = lim != "" && cur + 0 >= 0.95 * lim || high != "" && cur + 0 >= 0.95 * high
    e1n = kv(base "s1.cg" i ".memory.events", e1); e2n = kv(base "s2.cg" i ".memory.events", e2)
    if (!e2n) for (k in e1) e2[k] = e1[k]
    psi = one(base "p.cg" i ".memory.pressure")
    if (e1n || lim != "")
        printf "  memory: max %s, high %s, current %s; events: high %d (+%d), max %d (+%d), oom %d (+%d), oom_kill %d (+%d)%s\n", lim == "" ? "none" : mb(lim), high == "" ? "none" : mb(high), cur == "" ? "?" : mb(cur), e2["high"], e2["high"] - e1["high"], e2["max"], e2["max"] - e1["max"], e2["oom"], e2["oom"] - e1["oom"], e2["oom_kill"], e2["oom_kill"] - e1["oom_kill"], psi == "" ? "" : "; psi " psi
    dkill = e2["oom_kill"] - e1["oom_kill"]; doom = e2["oom"] - e1["oom"]; dmax = e2["max"] - e1["max"]; dhigh = e2["high"] - e1["high"]
    node = availp < 0 ? "" : sprintf("; the node has %.0f %% of its memory available", availp)
    if (!mem_done && (dkill > 0 || doom > 0)) {
        mem_done = 1
        fnd("critical", "cgroup-memory-limit", "cgroup", sprintf("the kernel OOM-killed %d process(es) inside the app's cgroup %s at its memory limit%s during the sample%s", dkill, d, lim == "" ? "" : " (" mb(lim) ")", node), "")
    } else if (!mem_done && (dmax > 0 || dhigh > 0) && at_lim) {
        mem_done = 1
        fnd("warning", "cgroup-memory-limit", "cgroup", sprintf("the app's cgroup %s is at its memory limit: %s during the sample, using %s of %s%s: reclaim stalls inside the unit%s", d, dmax > 0 ? dmax " allocation(s) hit memory.max" : dhigh " reclaim(s) at memory.high", cur == "" ? "?" : mb(cur), dmax > 0 && lim != "" ? mb(lim) : high != "" ? mb(high) : "?", psi == "" ? "" : " (unit memory PSI " substr(psi, 1, 40) ")", node), "")
    } else if (!mem_done && e2["oom_kill"] + 0 > 0) {
        mem_done = 1
        fnd("info", "cgroup-memory-limit", "cgroup", sprintf("the app's cgroup %s has %d OOM kill(s) since it was created, none during the sample: history, not this event", d, e2["oom_kill"]), "")
    }
    # pids: pids.events "max N" (forks refused at pids.max), sampled twice
    pmax = one(base "p.cg" i ".pids.max"); pcur = one(base "p.cg" i ".pids.current")
    p1n = kv(base "s1.cg" i ".pids.events", pe1); p2n = kv(base "s2.cg" i ".pids.events", pe2)
    if (!p2n) for (k in pe1) pe2[k] = pe1[k]
    if (p1n || pmax != "") {
        dpm = pe2["max"] - pe1["max"]; full = pmax ~ /^[0-9]+$/ && pcur + 0 >= pmax + 0
        printf "  pids: %s of %s; forks refused at the limit: %d (+%d in the sample)\n", pcur == "" ? "?" : pcur, pmax == "" ? "?" : pmax, pe2["max"], dpm
        if (!pid_done && (dpm > 0 || full)) {
            pid_done = 1
            fnd("critical", "cgroup-pids-limit", "cgroup", sprintf("the app's cgroup %s is at its pids limit (TasksMax): %s of %s tasks, %d fork(s)/thread(s) refused during the sample: fork, clone and pthread_create fail with EAGAIN there, not for want of memory or pids on the node", d, pcur == "" ? "?" : pcur, pmax == "" ? "?" : pmax, dpm), "")
        } else if (!pid_done && pe2["max"] + 0 > 0) {
            pid_done = 1
            fnd("info", "cgroup-pids-limit", "cgroup", sprintf("the app's cgroup %s refused %d fork(s) at its pids limit since it was created, none during the sample", d, pe2["max"]), "")
        }
    }
}
