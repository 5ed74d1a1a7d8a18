BEGIN { found = 0; stamps = 0 }
found { print; if (++shown >= total) exit; next }
{
    ts = stamp($0)
    if (ts >= 0) {
        if (!stamps) first_ts = ts
        stamps++
        if (ts >= ev) {
            found = 1
            start = NR - before; if (start < 1) start = 1
            for (i = start; i < NR; i++) { print ring[i % before]; shown++ }
            print; shown++
            if (shown >= total) exit
            next
        }
    }
    if (before > 0) ring[NR % before] = $0
}
END {
    mode = found ? "found" : (!stamps ? "no-stamps" : (first_ts > ev ? "before-window" : "after-window"))
    print mode > modefile
}
