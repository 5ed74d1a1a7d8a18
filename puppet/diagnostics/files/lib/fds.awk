FILENAME ~ /file-nr$/ { alloc = $1; max = $3 }
FILENAME ~ /fd_top$/ { top[++n] = $0; split($0, f, "\t"); if (f[2] + 0 > 0 && f[1] / f[2] > worst) { worst = f[1] / f[2]; wl = f[4] " (pid " f[3] ") has " f[1] " open files of its limit " f[2] } }
END {
    if (max != "") printf "system: %s file handles allocated of %s (file-nr)\n", alloc, max
    print "open fds\tlimit\tpid\tcommand"
    for (i = 1; i <= n; i++) print top[i]
    if (max + 0 > 0 && alloc / max >= 0.8)
        fnd(alloc / max >= 0.95 ? "critical" : "warning", "fd-exhausted", "fds", sprintf("%d of %.0f system file handles in use (%d %%)", alloc, max, pct(alloc, max)), "")
    if (worst >= 0.9) fnd(worst >= 0.97 || app_emfile ? "critical" : "warning", "fd-limit", "fds", wl, "")
    print "FD_WORST=" wl > vfile
}
