/^== / { tool = $2; next }
tool == "timedatectl" && /(System clock synchronized|NTP synchronized): *no/ { unsynced = "timedatectl: " $0 }
tool == "timedatectl" && /(System clock synchronized|NTP synchronized): *yes/ { synced = 1 }
tool == "chronyc" && /^Leap status *: *Not synchronised/ { unsynced = "chronyc: leap status not synchronised" }
tool == "chronyc" && /^System time *:/ { off = $4 + 0; dir = $6; have_off = 1 }
tool == "chronyc" && /^Last offset *:/ && !have_off { off = $5 + 0; sub(/^-/, "", off); have_off = 1 }
tool == "ntpq" && /^\*/ { off = $9 / 1000; if (off < 0) off = -off; have_off = 1; synced = 1 }
END {
    tls = app_tls + 0
    if (have_off && off >= 1)
        fnd(off >= 30 || tls ? "critical" : "warning", "clock-skew", "clock",
            sprintf("the clock is %.1f s %s NTP time%s", off, dir == "" ? "off" : dir " of", tls ? " and the application reports TLS/certificate time errors" : ""), "")
    else if (unsynced != "")
        fnd(tls ? "critical" : "warning", "clock-unsynced", "clock", "the clock is not synchronised (" unsynced ")" (tls ? "; the application reports TLS/certificate time errors" : ""), "")
}
