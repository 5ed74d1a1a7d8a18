function fnd(sev, code, sec, msg, at,   r, d) {
    r = sev == "critical" ? 0 : sev == "warning" ? 1 : 2
    d = at == "" ? 0 : at - ev; if (d < 0) d = -d
    gsub(/[\t\n\r]/, " ", msg)
    printf "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r, d, sev, code, sec, (at == "" ? "" : int(at)), msg >> ffile
}
function pct(a, b) { return b > 0 ? 100 * a / b : 0 }
