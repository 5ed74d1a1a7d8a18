FILENAME ~ /file-nr$/ { alloc = $1; max = $3 }
FILENAME ~ /fd_top$/ { top[++n] = $0; split($0, f, "\t"); if (f[2] + 0 > 0 && f[1] / f[2] > worst) { worst = f[1] / f[2]; wl = f[4] " (pid " f[3] ") has " f[1] " open files of its limit " f[2] } }
END {
    if (max != "") printf "system: %s file handles allocated of %s (file-nr)\n", alloc, max
    print "open fds\tlimit\tpid\tcommand"
    for (i = 1; i <= n; i++) print top[i]
    if (max + 0 > 0 && alloc / max >= 0.8)
        fnd(alloc / max >= 0.95 ? "critical" : "warning", "fd-exhausted", "fds", sprintf("%d of %.0f system file handles in use (%d %%)", alloc, max, pct(alloc, max)), "")
    # a process near its own limit is this event's cause only when the app reports EMFILE
    if (worst >= 0.9) fnd(app_emfile ? "critical" : "info", "fd-limit", "fds", wl (app_emfile ? "" : " (the application reports no \"Too many open files\")"), "")
    print "FD_WORST=" wl > vfile
}
