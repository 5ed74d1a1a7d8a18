FILENAME ~ /meminfo$/ { m[substr($1, 1, length($1) - 1)] = $2 }
FILENAME ~ /s1\.vmstat$/ { v1[$1] = $2 }
FILENAME ~ /s2\.vmstat$/ { v2[$1] = $2 }
FILENAME ~ /overcommit_memory$/ { ocm = $1 }
FILENAME ~ /overcommit_ratio$/ { ocr = $1 }
FILENAME ~ /pressure_memory$/ { psi[$1] = $0; split($2, a, "="); p10[$1] = a[2] + 0; havepsi = 1 }
function mib(k) { return int(m[k] / 1024) }
END {
    tot = m["MemTotal"]; av = m["MemAvailable"]
    if (tot > 0) {
        printf "memory:    %d MiB total, %d MiB available (%d %%), %d MiB free, %d MiB cache, %d MiB dirty\n", mib("MemTotal"), mib("MemAvailable"), pct(av, tot), mib("MemFree"), mib("Cached"), mib("Dirty")
        printf "swap:      %d MiB total, %d MiB used\n", mib("SwapTotal"), int((m["SwapTotal"] - m["SwapFree"]) / 1024)
        printf "available: %d MiB of %d MiB (%d %%)\n", mib("MemAvailable"), mib("MemTotal"), pct(av, tot)
    }
    s = ms / 1000
    if (("pswpin" in v1) && ("pswpin" in v2)) {
        si = (v2["pswpin"] - v1["pswpin"]) / s; so = (v2["pswpout"] - v1["pswpout"]) / s; mf = (v2["pgmajfault"] - v1["pgmajfault"]) / s
        printf "vmstat:    swap in %d pages/s, swap out %d pages/s, major faults %d/s over %.1f s; oom_kill counter %d since boot\n", si, so, mf, s, v2["oom_kill"]
    }
    print "psi memory: " (havepsi ? psi["some"] " | " psi["full"] : "not available (kernel without PSI)")
    if (tot > 0 && av * 100 < tot * 10)
        fnd(av * 100 < tot * 5 ? "critical" : "warning", "low-memory", "memory", sprintf("only %d %% of memory is available (%d MiB of %d MiB)", pct(av, tot), mib("MemAvailable"), mib("MemTotal")), "")
    # the most specific first among equals: swapping (the mechanism) before the stall it causes
    if (si + so >= 256)
        fnd(si + so >= 2560 ? "critical" : "warning", "swap-storm", "memory", sprintf("swapping %d pages/s in, %d pages/s out over %.1f s", si, so, s), "")
    if (havepsi && (p10["full"] >= 10 || p10["some"] >= 20))
        fnd(p10["full"] >= 20 ? "critical" : "warning", "memory-pressure", "memory", sprintf("tasks stalled on memory %.0f %% (some) / %.0f %% (full) of the last 10 s (PSI)", p10["some"], p10["full"]), "")
    if (si + so >= 256) { }
    else if (mf >= 1000 && havepsi && p10["some"] >= 10)
        fnd("warning", "memory-thrashing", "memory", sprintf("%d major page faults/s with memory pressure %.0f %%: the working set does not fit", mf, p10["some"]), "")
    if (m["SwapTotal"] > 0 && m["SwapFree"] * 10 < m["SwapTotal"] && av * 100 < tot * 20)
        fnd("warning", "swap-full", "memory", sprintf("swap is %d %% used and only %d %% of memory is available", 100 - pct(m["SwapFree"], m["SwapTotal"]), pct(av, tot)), "")
    # strict overcommit: allocations fail once Committed_AS reaches CommitLimit, whatever is free
    cl = m["CommitLimit"]; ca = m["Committed_AS"]
    if (ocm != "") printf "overcommit: vm.overcommit_memory %s%s; committed %d MiB of commit limit %d MiB (%d %%)\n", ocm, ocm == 2 ? " (strict), overcommit_ratio " ocr : "", int(ca / 1024), int(cl / 1024), pct(ca, cl)
    if (ocm == 2 && cl > 0 && ca >= 0.9 * cl) {
        fnd(ca >= 0.98 * cl ? "critical" : "info", "overcommit-limit", "memory", sprintf("strict overcommit (vm.overcommit_memory=2): %d MiB committed of the %d MiB commit limit (%d %%) while %d MiB (%d %%) of memory is available: allocations and forks fail with ENOMEM at the commit limit, not for want of RAM", int(ca / 1024), int(cl / 1024), pct(ca, cl), mib("MemAvailable"), pct(av, tot)), "")
    }
    print "OOMKILL_COUNTER=" (v2["oom_kill"] + 0) > vfile
}
