BEGIN {
    for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
    SPECIAL = "[\"\\\\" sprintf("%c", 1) "-" sprintf("%c", 31) sprintf("%c", 127) "-" sprintf("%c", 255) "]"
    KEYS = "(password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)"
    KV_RE = KEYS "[a-z0-9_.-]*[\"']?[ \t]*[:=][ \t]*"
    AN = "[a-z0-9]"
    AWS_RE = "(akia|asia)" AN AN AN AN AN AN AN AN AN AN AN AN AN AN AN AN
    MASK = "[REDACTED]"
    used = 0; cut = 0; masked = 0; in_key = 0; first = 1; dry = 0; n_lines = 0
    SKIP = sprintf("%c", 1) "skip"
}
function redact_kv(line,   l, out, pre, rest, q) {
    out = ""
    while (1) {
        l = tolower(line)
        if (!match(l, KV_RE)) break
        pre = substr(line, 1, RSTART + RLENGTH - 1); rest = substr(line, RSTART + RLENGTH)
        q = substr(rest, 1, 1)
        if (q == "\"" || q == "'") {
            pre = pre q; rest = substr(rest, 2)
            if (match(rest, q == "\"" ? "^[^\"]+" : "^[^']+")) { out = out pre MASK; line = substr(rest, RLENGTH + 1); masked++; continue }
        } else if (match(rest, /^[^ \t"',;&<>]+/) && substr(rest, 1, RLENGTH) != MASK) {
            out = out pre MASK; line = substr(rest, RLENGTH + 1); masked++; continue
        }
        out = out pre; line = rest
    }
    return out line
}
function redact_re(line, re, keep, replacement,   l, out) {
    # Masks each match of `re` (matched case-insensitively), keeping its first `keep` bytes.
    out = ""
    while (1) {
        l = tolower(line)
        if (!match(l, re)) break
        out = out substr(line, 1, RSTART - 1 + keep) replacement
        line = substr(line, RSTART + RLENGTH); masked++
    }
    return out line
}
function redact_url(line,   l, out, m, at, colon) {
    # scheme://[user]:password@ (an empty user too: redis://:secret@host)
    out = ""
    while (1) {
        l = tolower(line)
        if (!match(l, /[a-z][a-z0-9+.-]*:\/\/[^\/@ \t:"']*:[^\/@ \t"]+@/)) break
        m = substr(line, RSTART, RLENGTH)
        colon = index(substr(m, index(m, "://") + 3), ":") + index(m, "://") + 2
        out = out substr(line, 1, RSTART - 1) substr(m, 1, colon) MASK "@"
        line = substr(line, RSTART + RLENGTH); masked++
    }
    return out line
}
function emit(piece, atomic,   room) {
    # Writes `piece` unless the limit is reached; atomic pieces are never split.
    if (dry) { used += length(piece); return }
    if (cut) return
    room = limit - used
    if (length(piece) <= room) { printf "%s", piece; used += length(piece); return }
    if (!atomic && room > 0) { printf "%s", substr(piece, 1, room); used += room }
    cut = 1
}
function emit_escaped(s,   n, i, c, o, need, j, o2, ok) {
    while (length(s) > 0 && !cut) {
        if (!match(s, SPECIAL)) { emit(s, 0); return }
        if (RSTART > 1) emit(substr(s, 1, RSTART - 1), 0)
        s = substr(s, RSTART); c = substr(s, 1, 1); o = ord[c]
        if (c == "\"") { emit("\\\"", 1); s = substr(s, 2); continue }
        if (c == "\\") { emit("\\\\", 1); s = substr(s, 2); continue }
        if (o < 32 || o == 127) { emit(o == 9 ? "\\t" : sprintf("\\u%04x", o), 1); s = substr(s, 2); continue }
        need = (o >= 194 && o <= 223) ? 1 : (o >= 224 && o <= 239) ? 2 : (o >= 240 && o <= 244) ? 3 : 0
        ok = need > 0 && length(s) > need
        for (j = 2; ok && j <= need + 1; j++) { o2 = ord[substr(s, j, 1)]; if (o2 < 128 || o2 > 191) ok = 0 }
        if (ok) {
            o2 = ord[substr(s, 2, 1)]
            if ((o == 224 && o2 < 160) || (o == 237 && o2 > 159) || (o == 240 && o2 < 144) || (o == 244 && o2 > 143)) ok = 0
        }
        if (ok) { emit(substr(s, 1, need + 1), 1); s = substr(s, need + 2) }
        else { emit("\\ufffd", 1); s = substr(s, 2) }
    }
}
function redact_line(line,   l) {
    if (redact) {
        l = tolower(line)
        if (in_key) { if (l ~ /-----end [a-z0-9 ]*private key-----/) in_key = 0; return SKIP }
        if (l ~ /-----begin [a-z0-9 ]*private key-----/) {
            line = "[REDACTED PRIVATE KEY]"; masked++
            if (l !~ /-----end [a-z0-9 ]*private key-----/) in_key = 1
        } else {
            line = redact_re(line, "authorization[\"']?[ \t]*[:=][ \t]*[^\r]+", 0, "Authorization: " MASK)
            line = redact_re(line, "bearer[ \t]+[a-z0-9._~+/=-]+", 6, " " MASK)
            line = redact_url(line)
            line = redact_re(line, AWS_RE, 0, MASK)
            line = redact_kv(line)
        }
    }
    return line
}
function write_line(line) {
    if (!first) emit("\\n", 1)
    first = 0
    emit_escaped(line)
}
{
    line = redact_line($0)
    if (per_line) { used = 0; cut = 0; first = 1; if (line != SKIP) write_line(line); printf "\n"; next }
    if (line == SKIP) next
    if (!keep_tail) { write_line(line); if (cut) exit 3; next }
    # keep_tail: remember each line and its escaped size, choose the newest that fit at the end.
    n_lines++; kept[n_lines] = line
    dry = 1; used = 0; emit_escaped(line); size[n_lines] = used + 2; dry = 0; used = 0
}
END {
    if (keep_tail && n_lines > 0) {
        total = 0
        for (start = n_lines; start >= 1 && total + size[start] <= limit; start--) total += size[start]
        start++
        if (start > n_lines) start = n_lines
        for (i = start; i <= n_lines && !cut; i++) write_line(kept[i])
        if (start > 1) cut = 1
    }
    if (countfile != "") print masked, used > countfile
    if (per_line) exit 0
    exit cut ? 3 : 0
}
