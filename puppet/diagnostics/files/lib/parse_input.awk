function skip_ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
function parse_string(   out, c, e, h) {
    out = ""; pos++
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
            e = substr(s, pos + 1, 1); pos += 2
            if (e == "n" || e == "t" || e == "r" || e == "b" || e == "f") out = out "?"
            else if (e == "u") {
                h = substr(s, pos, 4); pos += 4
                if (h ~ /^00[2-7][0-9a-fA-F]$/) out = out sprintf("%c", hexval(h))
                else out = out "?"
            } else out = out e
            continue
        }
        if (ord[c] < 32) c = "?"
        out = out c; pos++
    }
    bad = 1; return out
}
function hexval(h,   i, v) { v = 0; h = tolower(h); for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return v }
function parse_scalar(   start) {
    start = pos
    while (pos <= n && !index(",]} \t\r\n", substr(s, pos, 1))) pos++
    return substr(s, start, pos - start)
}
function skip_value(   depth, c) {
    depth = 0
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { parse_string(); continue }
        if (c == "{" || c == "[") depth++
        if (c == "}" || c == "]") { depth--; if (depth < 0) return }
        if ((c == "," ) && depth == 0) return
        pos++
        if (depth == 0) return
    }
}
BEGIN { for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i; RS = "\001" }
{ s = s $0 }
END {
    n = length(s); pos = 1; bad = 0
    skip_ws(); if (substr(s, pos, 1) != "{") exit 2
    pos++
    while (pos <= n && !bad) {
        skip_ws(); c = substr(s, pos, 1)
        if (c == "}") exit 0
        if (c == ",") { pos++; continue }
        if (c != "\"") exit 2
        key = parse_string(); skip_ws()
        if (substr(s, pos, 1) != ":") exit 2
        pos++; skip_ws(); c = substr(s, pos, 1)
        if (c == "\"") print key "\t" parse_string()
        else if (c == "[") {
            pos++; print key "\t" "\001array"
            while (pos <= n) {
                skip_ws(); c = substr(s, pos, 1)
                if (c == "]") { pos++; break }
                if (c == ",") { pos++; continue }
                if (c == "\"") print key "\t" parse_string()
                else { v = parse_scalar(); if (v != "null") print key "\t" v }
            }
        } else if (c == "{") skip_value()
        else { v = parse_scalar(); if (v != "null") print key "\t" v }
    }
    exit bad ? 2 : 0
}
