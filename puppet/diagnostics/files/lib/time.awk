function days_civil(y, m, d,   era, yoe, doy, doe) {
    y -= (m <= 2); era = int((y >= 0 ? y : y - 399) / 400); yoe = y - era * 400
    doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
    doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
    return era * 146097 + doe - 719468
}
function epoch_of(y, mo, d, h, mi, s) { return days_civil(y + 0, mo + 0, d + 0) * 86400 + h * 3600 + mi * 60 + s }
function iso_of(t,   z, r, era, doe, yoe, y, doy, mp, d, m) {
    t = int(t); z = int(t / 86400); r = t - z * 86400; if (r < 0) { r += 86400; z-- }
    z += 719468; era = int((z >= 0 ? z : z - 146096) / 146097); doe = z - era * 146097
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
    y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100)); mp = int((5 * doy + 2) / 153)
    d = doy - int((153 * mp + 2) / 5) + 1; m = mp < 10 ? mp + 3 : mp - 9; y += (m <= 2)
    return sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, int(r / 3600), int(r % 3600 / 60), r % 60)
}
function span(s) { s = s < 0 ? -s : s; return s < 120 ? int(s) " s" : s < 7200 ? int(s / 60) " min" : s < 172800 ? int(s / 3600) " h" : int(s / 86400) " d" }
function zone_off(z,   sign) {
    # "Z", "+01:00", "-0500" -> seconds east of UTC; "" -> the node's local offset.
    if (z == "") return tzoff
    if (z ~ /^Z/) return 0
    sign = substr(z, 1, 1) == "-" ? -1 : 1; gsub(/[^0-9]/, "", z)
    return sign * (substr(z, 1, 2) * 3600 + substr(z, 3, 2) * 60)
}
function mon_of(m) {
    if (!MON_INIT) { MON_INIT = split("jan feb mar apr may jun jul aug sep oct nov dec", MN, " "); for (mi_ in MN) MON[MN[mi_]] = mi_ }
    return MON[tolower(m)] + 0
}
# Epoch of the timestamp near the start of `line`, or -1. ISO (zone suffix honoured, else
# local), YYYY/MM/DD (Go, nginx), DD/Mon/YYYY:HH:MM:SS zone (access logs), DD-Mon-YYYY
# (php-fpm), dmesg -T / Apache "[Www Mon DD HH:MM:SS[.frac] YYYY]", syslog "Mon DD
# HH:MM:SS" (year of the event), "ts"/"time":epoch (seconds or milliseconds).
function stamp(line,   h, rest, y, t, z, a, tt) {
    h = substr(line, 1, 80)
    if (index(h, ":") == 0) return -1
    if (match(h, /[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]/)) {
        t = substr(h, RSTART, RLENGTH); rest = substr(h, RSTART + RLENGTH); z = ""
        sub(/^[.,][0-9]+/, "", rest)
        if (match(rest, /^ ?(Z|[+-][0-9][0-9]:?[0-9][0-9])/)) { z = substr(rest, RSTART, RLENGTH); sub(/^ /, "", z) }
        return epoch_of(substr(t, 1, 4), substr(t, 6, 2), substr(t, 9, 2), substr(t, 12, 2), substr(t, 15, 2), substr(t, 18, 2)) - zone_off(z)
    }
    if (match(h, /[0-9][0-9][0-9][0-9]\/[0-9][0-9]\/[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/)) {
        t = substr(h, RSTART, RLENGTH)
        return epoch_of(substr(t, 1, 4), substr(t, 6, 2), substr(t, 9, 2), substr(t, 12, 2), substr(t, 15, 2), substr(t, 18, 2)) - tzoff
    }
    if (match(h, /[0-9][0-9]\/[A-Za-z][a-z][a-z]\/[0-9][0-9][0-9][0-9]:[0-9][0-9]:[0-9][0-9]:[0-9][0-9]( [+-][0-9][0-9][0-9][0-9])?/)) {
        t = substr(h, RSTART, RLENGTH); z = substr(t, 22)
        return epoch_of(substr(t, 8, 4), mon_of(substr(t, 4, 3)), substr(t, 1, 2), substr(t, 13, 2), substr(t, 16, 2), substr(t, 19, 2)) - zone_off(z)
    }
    if (match(h, /^\[[A-Z][a-z][a-z] [A-Z][a-z][a-z] +[0-9]+ [0-9][0-9]:[0-9][0-9]:[0-9][0-9](\.[0-9]+)? [0-9][0-9][0-9][0-9]\]/)) {
        split(substr(h, 2, RLENGTH - 2), a, / +/); split(a[4], tt, ":"); tt[3] = int(tt[3])
        return epoch_of(a[5], mon_of(a[2]), a[3], tt[1], tt[2], tt[3]) - tzoff
    }
    if (match(h, /[0-9][0-9]-[A-Z][a-z][a-z]-[0-9][0-9][0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/)) {
        t = substr(h, RSTART, RLENGTH)
        return epoch_of(substr(t, 8, 4), mon_of(substr(t, 4, 3)), substr(t, 1, 2), substr(t, 13, 2), substr(t, 16, 2), substr(t, 19, 2)) - tzoff
    }
    if (match(h, /^[A-Z][a-z][a-z] +[0-9]+ [0-9][0-9]:[0-9][0-9]:[0-9][0-9]/)) {
        split(substr(h, 1, RLENGTH), a, / +/); split(a[3], tt, ":")
        y = epoch_of(evyear, mon_of(a[1]), a[2], tt[1], tt[2], tt[3]) - tzoff
        return y > ev + 15552000 ? epoch_of(evyear - 1, mon_of(a[1]), a[2], tt[1], tt[2], tt[3]) - tzoff : y
    }
    if (match(h, /"(ts|timestamp|time)": ?1[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]/)) {
        t = substr(h, RSTART, RLENGTH); sub(/^[^:]*: ?/, "", t); return t + 0
    }
    return -1
}
