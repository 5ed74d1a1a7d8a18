{
    line = $0
    if (match(line, /^\[ *[0-9]+\.[0-9]+\] ?/)) {
        t = substr(line, 2, RLENGTH - 2); sub(/^ */, "", t); sub(/\] ?$/, "", t)
        print int(btime + t) "\t" substr(line, RLENGTH + 1); next
    }
    t = stamp(line)
    if (t >= 0) {
        if (match(line, / kernel: /)) line = substr(line, RSTART + 9)
        else if (match(line, /^\[[^]]*\] ?/)) line = substr(line, RLENGTH + 1)
        print int(t) "\t" line
    } else print "\t" line
}
