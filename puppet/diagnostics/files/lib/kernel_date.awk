# Dates kernel lines: "[ 12.345678] msg" (dmesg: btime + seconds since boot) or a line with
# its own timestamp (dmesg -T, journal, syslog files) -> "epoch<TAB>msg". The first file is
# the live source (dmesg or journal); lines of the second (a syslog file) are kept only
# when older than everything in the first, so nothing is counted twice.
FNR == 1 { fileno++ }
{
    line = $0; t = ""
    if (match(line, /^\[ *[0-9]+\.[0-9]+\] ?/)) {
        t = substr(line, 2, RLENGTH - 2); sub(/^ */, "", t); sub(/\] ?$/, "", t)
        t = int(btime + t); line = substr(line, RLENGTH + 1)
    } else {
        s = stamp(line)
        if (s >= 0) {
            t = int(s)
            if (match(line, / kernel: /)) line = substr(line, RSTART + 9)
            else if (match(line, /^\[[^]]*\] ?/)) line = substr(line, RLENGTH + 1)
            sub(/^\[ *[0-9]+\.[0-9]+\] /, "", line)
        }
    }
    if (FILENAME == ARGV[1] && ARGV[1] != "" && fileno == 1) {
        live[++nl] = t "\t" line
        if (t != "" && (first == "" || t < first)) first = t
    } else if (t != "" && (first == "" || t < first)) old[++no] = t "\t" line
}
END { for (i = 1; i <= no; i++) print old[i]; for (i = 1; i <= nl; i++) print live[i] }
