BEGIN { FS = "\t" }
function note(c, t, msg) {
    all[c]++; lastt[c] = t; lastm[c] = msg
    if (t != "" && t >= ev - before && t <= ev + after) { near[c]++; neart[c] = t; nearm[c] = msg }
}
function when(t) { return t == "" ? "" : t < ev ? span(ev - t) " before the event" : span(t - ev) " after the event" }
{
    t = $1; msg = $2; l = tolower(msg)
    # "Killed process N (comm)"; kernels before 5.x also print "Kill process N (comm) score"
    # first: one kill per victim pid.
    if (match(l, /kill(ed)? process [0-9]+/)) {
        pid = substr(l, RSTART, RLENGTH); sub(/.* /, "", pid)
        if (!(pid in killed)) {
            killed[pid] = 1
            note("oom", t, msg)
            if (match(msg, /[Kk]ill(ed)? process [0-9]+ \([^)]*\)/)) { v = substr(msg, RSTART, RLENGTH); sub(/^[Kk]ill(ed)? process /, "", v); victim[++nv] = v; if (t >= ev - before && t <= ev + after) nearv = nearv (nearv == "" ? "" : ", ") v }
        }
        if (l ~ /memory cgroup out of memory/) cg[t >= ev - before ? "near" : "old"] = 1
        print "oom\t" t "\t" msg > oomfile
    } else if (l ~ /invoked oom-killer|out of memory|oom-kill:|oom_reaper/) print "oom\t" t "\t" msg > oomfile
    if (l ~ /blocked for more than [0-9]+ seconds/) { note("hung", t, msg); if (match(msg, /task [^ ]+:[0-9]+/)) hung[substr(msg, RSTART + 5, RLENGTH - 5)] = 1 }
    if (l ~ / segfault at |general protection fault|traps: .*trap/ && l !~ /kernel/) {
        note("segv", t, msg); if (match(msg, /[^ \[]+\[[0-9]+\]/)) { c = substr(msg, RSTART, RLENGTH); sub(/\[.*/, "", c); if (t >= ev - before && t <= ev + after) segc[c]++ }
    }
    if (l ~ /remounting filesystem read-only|filesystem has been shut down|shutting down filesystem|forced readonly|aborting journal/) { note("ro", t, msg); ro_boot = 1 }
    else if (l ~ /ext[234]-fs (error|warning)|xfs .*(corruption|metadata i\/o error)|btrfs (error|critical)|journal commit i\/o error|jbd2.*error/) note("fserr", t, msg)
    if (l ~ /i\/o error, dev [a-z0-9]+|buffer i\/o error|blk_update_request: .*error|print_req_error: .*error|critical medium error|medium error|nvme[0-9]+: .*(timeout|controller is down|resetting controller)|ata[0-9.]+: (exception|failed command|hard resetting)|sense key/) note("ioerr", t, msg)
    if (l ~ /conntrack: .*table full, dropping packet/) note("conntrack", t, msg)
    if (l ~ /possible syn flooding on port/) { note("syn", t, msg); p = msg; sub(/.*[Pp]ort /, "", p); sub(/\. .*/, "", p); sub(/\.$/, "", p); synport = p }
    if (l ~ /out of socket memory|tcp: out of memory|too many orphaned sockets/) note("tcpmem", t, msg)
    if (l ~ /neighbou?r table overflow/) note("neigh", t, msg)
    if (l ~ /soft lockup|hard lockup|rcu.*(self-detected stall|detected stalls)/) note("lockup", t, msg)
    # MCE/EDAC: corrected errors are a warning; uncorrected ones (UE, a machine check
    # exception, memory-failure handling that kills a process) take data or a process down.
    if (l ~ /machine check|\[hardware error\]|edac .* (ue|ce) |memory failure: |uncorrect(ed|able) (memory |ecc )?error|pcie bus error: severity=(uncorrected|fatal)/) {
        note("hw", t, msg)
        if (l ~ /edac .* ue |machine check exception|memory failure: |uncorrect(ed|able)|severity=(uncorrected|fatal)|fatal machine check/ && t != "" && t >= ev - before && t <= ev + after) hwue = 1
    }
    # therm_throt.c: "CPUn: Core|Package temperature (is )above threshold, cpu clock (is )throttled"
    if (l ~ /temperature (is )?above threshold|cpu clock (is )?throttled|critical temperature reached|thermal.*(shutdown|throttl)/ && l !~ /temperature\/speed normal/) note("thermal", t, msg)
    # NFS/lockd/RPC: "nfs: server X not responding, still trying|timed out", later "nfs: server X OK"
    if (l ~ /(nfs|lockd|rpc): server .* not responding/) { note("nfs", t, msg); nfsbad = t }
    else if (l ~ /(nfs|lockd): server .* ok$/) nfsok = t
    # mm/page_alloc.c warn_alloc: "comm: page allocation failure: order:N, mode:..."
    if (match(l, /page allocation failure: order:[0-9]+/)) { o = substr(l, RSTART + 31, RLENGTH - 31) + 0; note(o > 0 ? "frag" : "alloc0", t, msg); if (o > maxorder) maxorder = o }
    if (l ~ /^bug: (unable|kernel|scheduling)|kernel bug at|^oops: |kernel panic/) note("oops", t, msg)
    if (l ~ /nic link is down|link is down|netdev watchdog/) note("link", t, msg)
}
function rule(c, code, sev, what,   m) {
    if (!(c in all)) return
    if (c in near) fnd(sev, code, "kernel_events", sprintf("%s %d time(s), last %s: %s", what, near[c], when(neart[c]), substr(nearm[c], 1, 160)), neart[c])
    else fnd("info", code, "kernel_events", sprintf("%s %d time(s), last %s (context, not near the event): %s", what, all[c], when(lastt[c]), substr(lastm[c], 1, 120)), lastt[c])
    printf "%-10s %4d near the event, %4d in all; last %s: %s\n", c, near[c] + 0, all[c], when(lastt[c]), substr(lastm[c], 1, 200)
}
END {
    if ("oom" in near) fnd("critical", "oom-kill", "oom", sprintf("the %sOOM killer killed %d process(es) %s: %s", cg["near"] ? "memory cgroup " : "", near["oom"], when(neart["oom"]), nearv), neart["oom"])
    else if ("oom" in all) fnd("info", "oom-kill", "oom", sprintf("the OOM killer killed %d process(es), last %s (context, not near the event): %s", all["oom"], when(lastt["oom"]), victim[nv]), lastt["oom"])
    for (h in hung) hl = hl (hl == "" ? "" : ", ") h
    rule("hung", "hung-task", "critical", "hung task (" hl ")")
    for (c in segc) { if (segc[c] > sc) { sc = segc[c]; sn = c } }
    rule("segv", "segfault", sc >= 3 ? "critical" : "warning", sc >= 3 ? sn " crashed " sc " times (crash loop); segfault" : "segfault")
    rule("ro", "fs-read-only", "critical", "filesystem forced read-only")
    rule("fserr", "fs-error", "critical", "filesystem error")
    rule("ioerr", "disk-error", "critical", "disk I/O error")
    rule("conntrack", "conntrack-full", "critical", "conntrack table full, packets dropped")
    rule("syn", "listen-overflow", "warning", "SYN flood / accept queue full on port " synport)
    rule("tcpmem", "tcp-memory", "warning", "TCP out of socket memory")
    rule("neigh", "neighbour-table-overflow", "warning", "ARP/neighbour table overflow")
    rule("lockup", "soft-lockup", "critical", "CPU lockup or RCU stall")
    rule("hw", "hardware-error", hwue ? "critical" : "warning", hwue ? "uncorrected hardware error (MCE/EDAC)" : "hardware error (MCE/EDAC)")
    rule("thermal", "cpu-thermal-throttle", "warning", "CPU clock throttled on temperature")
    rule("nfs", "nfs-unresponsive", nfsok != "" && nfsok > nfsbad ? "warning" : "critical", nfsok != "" && nfsok > nfsbad ? "NFS server not responding (answered again " when(nfsok) ")" : "NFS server not responding")
    rule("frag", "memory-fragmentation", "warning", "kernel page allocation failure up to order " maxorder " (free memory too fragmented)")
    rule("alloc0", "memory-fragmentation", "info", "order-0 page allocation failure (atomic allocation under load)")
    rule("oops", "kernel-oops", "critical", "kernel BUG/oops")
    rule("link", "link-down", "warning", "network link down")
    print "KERNEL_RO=" (ro_boot + 0) > vfile
    print "RO_NEAR=" (("ro" in near) ? 1 : 0) > vfile
}
