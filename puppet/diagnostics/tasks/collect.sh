#!/usr/bin/env bash
# diagnostics::collect -- read-only, bounded diagnostics of one node, as ONE JSON object.
#
# Runs as root on production nodes through the Puppet orchestrator (or Bolt), so it is
# deliberately boring: it reads, never writes outside a private temp dir it removes,
# makes no network calls, runs every command under a timeout, never reads a whole log,
# masks secrets before anything leaves the node, and never prints more than max_bytes.
# Needs only bash, coreutils and awk on the node (no jq, no python).
#
# Parameters (see collect.json) arrive as PT_<name> environment variables and/or as a
# JSON object on stdin; the environment wins when both are present.
set -u
export LC_ALL=C
umask 077

readonly TASK_VERSION="0.1.0"
readonly CMD_TIMEOUT=10            # seconds for any single command
readonly LOG_WINDOW=$((8 * 1024 * 1024))    # bytes read from the end of the log for a tail
readonly SINCE_WINDOW=$((32 * 1024 * 1024)) # bytes searched for the event time
readonly ENVELOPE_RESERVE=8192     # bytes kept for the envelope and the findings
readonly MAX_FINDINGS=20
# Where /proc is read from; only the test-suite points it elsewhere (PE passes PT_* only).
readonly PROC_ROOT="${DIAGNOSTICS_PROC_ROOT:-/proc}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/diagnostics.XXXXXXXX") || {
    printf '{"_error":{"kind":"diagnostics/no-tempdir","msg":"could not create a private temp dir","details":{}}}\n'
    exit 1
}
trap 'rm -rf -- "$WORK"' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# awk programs. Written for POSIX awk / mawk 1.3.4 (no {n} repetitions, no gawk extensions).

# Reads a flat JSON object (the task input) and prints one "key<TAB>value" line per
# scalar and per string element of an array. Control characters in values become "?".
read -r -d '' AWK_PARSE_INPUT <<'AWK'
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
                else print key "\t" parse_scalar()
            }
        } else if (c == "{") skip_value()
        else print key "\t" parse_scalar()
    }
    exit bad ? 2 : 0
}
AWK

# Redacts secrets and writes the input as the *contents* of a JSON string (no quotes),
# valid UTF-8 (bad bytes become U+FFFD), at most `limit` bytes; exit 3 when cut. The cut
# drops the end, or with keep_tail=1 whole oldest lines (a log's newest lines matter).
# Writes the number of masked values to `countfile`. Input must hold no NUL bytes.
read -r -d '' AWK_ESCAPE <<'AWK'
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
    out = ""
    while (1) {
        l = tolower(line)
        if (!match(l, /[a-z][a-z0-9+.-]*:\/\/[^\/@ \t:"']+:[^\/@ \t"']+@/)) break
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
    if (countfile != "") print masked > countfile
    exit cut ? 3 : 0
}
AWK

# Keeps the log lines around the first line stamped at or after `since` (local
# "YYYY-MM-DDTHH:MM:SS"); `before` lines before it, `total` lines in all. Writes the
# outcome to `modefile`: found, after-window (all stamps older), before-window, no-stamps.
read -r -d '' AWK_AROUND <<'AWK'
BEGIN { TS = "^[[(]?[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]"; found = 0; stamps = 0; after = 0 }
found { print; if (++shown >= total) exit; next }
{
    if (match($0, TS)) {
        ts = substr($0, RSTART, RLENGTH); sub(/^[[(]/, "", ts); ts = substr(ts, 1, 10) "T" substr(ts, 12)
        if (!stamps) first_ts = ts
        stamps++
        if (ts >= since) {
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
    mode = found ? "found" : (!stamps ? "no-stamps" : (first_ts > since ? "before-window" : "after-window"))
    print mode > modefile
}
AWK

# ---------------------------------------------------------------------------------------
# Helpers

have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command with a time limit (when coreutils' timeout exists); never reads stdin.
run() {
    if have timeout; then timeout -k 2 "$CMD_TIMEOUT" "$@" </dev/null; else "$@" </dev/null; fi
}

# Prints "$1" as a quoted JSON string of at most $2 (default 512) bytes, secrets masked.
json_str() {
    printf '"'
    printf '%s' "$1" | tr -d '\000' | awk -v limit="${2:-512}" -v redact=1 -v countfile= "$AWK_ESCAPE"
    printf '"'
}

REDACTIONS=0
TRUNCATED=false
FINDINGS_FILE="$WORK/findings"
SECTIONS_FILE="$WORK/sections"
: >"$FINDINGS_FILE"
: >"$SECTIONS_FILE"
FINDING_COUNT=0

finding() { # severity code message
    FINDING_COUNT=$((FINDING_COUNT + 1))
    if [ "$FINDING_COUNT" -gt "$MAX_FINDINGS" ]; then return 0; fi
    [ -s "$FINDINGS_FILE" ] && printf ',' >>"$FINDINGS_FILE"
    printf '{"severity":"%s","code":"%s","message":%s}' "$1" "$2" "$(json_str "$3" 300)" >>"$FINDINGS_FILE"
}

SECTION_BUDGET=0   # bytes left for all sections; set once the parameters are known

# Appends one section. Its body is the file $5, cut to min($4, what is left) bytes:
# its end is cut, or with $6 = keep_tail its oldest lines.
add_section() { # id title command cap bodyfile [keep_tail]
    local id=$1 title=$2 command=$3 cap=$4 body=$5 keep_tail=0 meta limit rc count_file="$WORK/count" cut=false
    [ "${6:-}" = keep_tail ] && keep_tail=1
    meta=$(printf '{"id":"%s","title":%s,"command":%s,"body":"' "$id" "$(json_str "$title" 200)" "$(json_str "$command" 1200)")
    limit=$((SECTION_BUDGET - ${#meta} - 32))
    [ "$cap" -lt "$limit" ] && limit=$cap
    [ "$limit" -lt 0 ] && limit=0
    # The body is cut to the limit in raw bytes first (escaping only grows it).
    if [ "$(wc -c <"$body")" -gt "$limit" ]; then
        if [ "$keep_tail" = 1 ]; then tail -c "$limit" "$body" | sed 1d; else head -c "$limit" "$body"; fi >"$body.cut"
        mv -f -- "$body.cut" "$body"; cut=true
    fi
    {
        printf '%s' "$meta"
        tr -d '\000' <"$body" | awk -v limit="$limit" -v redact=1 -v keep_tail="$keep_tail" -v countfile="$count_file" "$AWK_ESCAPE"
        rc=${PIPESTATUS[1]}
        [ "$rc" -eq 3 ] && cut=true
        printf '","truncated":%s}' "$cut"
    } >"$WORK/section"
    REDACTIONS=$((REDACTIONS + $(cat "$count_file" 2>/dev/null || echo 0)))
    [ "$cut" = true ] && TRUNCATED=true
    [ -s "$SECTIONS_FILE" ] && { printf ',' >>"$SECTIONS_FILE"; SECTION_BUDGET=$((SECTION_BUDGET - 1)); }
    cat -- "$WORK/section" >>"$SECTIONS_FILE"
    SECTION_BUDGET=$((SECTION_BUDGET - $(wc -c <"$WORK/section")))
}

# cap for a section: min(fixed bytes, percent of the section budget), at least 256.
cap_of() { # fixed percent
    local c=$((TOTAL_SECTION_BUDGET * $2 / 100))
    [ "$c" -gt "$1" ] && c=$1
    [ "$c" -lt 256 ] && c=256
    echo "$c"
}

# Runs "$@" into file $OUT, capped at $1 bytes; "not available" when the tool is missing.
capture() { # cap cmd args...
    local cap=$1; shift
    if ! have "$1"; then echo "$1: not available on this node" >>"$OUT"; return 127; fi
    run "$@" 2>&1 | head -c "$((cap + 1))" >>"$OUT"
    return "${PIPESTATUS[0]}"
}

# ---------------------------------------------------------------------------------------
# Parameters

param() { # name -> value from PT_<name>, else from the stdin JSON (first value)
    local var="PT_$1"
    if [ -n "${!var+set}" ]; then printf '%s' "${!var}"; return 0; fi
    awk -F '\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$WORK/input"
}
param_list() { # name -> one element per line, from a JSON array in PT_<name> or stdin
    local var="PT_$1"
    if [ -n "${!var+set}" ]; then
        case "${!var}" in
            \[*) printf '{"v":%s}' "${!var}" | awk "$AWK_PARSE_INPUT" | awk -F '\t' '$1 == "v" && $2 != "\001array" { sub(/^[^\t]*\t/, ""); print }' ;;
            *) printf '%s\n' "${!var}" ;;
        esac
        return 0
    fi
    awk -F '\t' -v k="$1" '$1 == k && $2 != "\001array" { sub(/^[^\t]*\t/, ""); print }' "$WORK/input"
}

: >"$WORK/input"
if [ ! -t 0 ]; then
    # At most 64 KiB of input, and never wait long for a writer that does not close.
    IFS= read -r -d '' -t 5 -N 65536 STDIN_JSON || true
    if [ -n "${STDIN_JSON:-}" ] && [[ ${STDIN_JSON} == *[![:space:]]* ]]; then
        printf '%s' "$STDIN_JSON" | awk "$AWK_PARSE_INPUT" >"$WORK/input" || {
            printf '{"_error":{"kind":"diagnostics/bad-input","msg":"the task input on stdin is not a JSON object","details":{}}}\n'
            exit 1
        }
    fi
fi

param_error() {
    printf '{"_error":{"kind":"diagnostics/invalid-parameter","msg":%s,"details":{"parameter":"%s"}}}\n' "$(json_str "$2" 400)" "$1"
    exit 1
}
is_int() { [[ $1 =~ ^[0-9]{1,9}$ ]]; }

LOG_PATH=$(param log_path)
LOG_LINES=$(param log_lines); LOG_LINES=${LOG_LINES:-200}
SINCE=$(param since)
MAX_BYTES=$(param max_bytes); MAX_BYTES=${MAX_BYTES:-262144}
mapfile -t ALLOWED_DIRS < <(param_list allowed_log_dirs)
[ "${#ALLOWED_DIRS[@]}" -eq 0 ] && ALLOWED_DIRS=(/var/log)

in_range() { is_int "$1" && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
if ! in_range "$LOG_LINES" 1 5000; then param_error log_lines "log_lines must be an integer from 1 to 5000"; fi
if ! in_range "$MAX_BYTES" 16384 16777216; then param_error max_bytes "max_bytes must be an integer from 16384 to 16777216"; fi
SINCE_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$'
if [ -n "$SINCE" ] && ! [[ $SINCE =~ $SINCE_RE ]]; then
    param_error since "since must be an ISO-8601 time such as 2026-11-21T03:12:45Z"
fi
for d in "${ALLOWED_DIRS[@]}"; do
    [[ $d == /* ]] || param_error allowed_log_dirs "allowed_log_dirs must hold absolute directory paths"
done

TOTAL_SECTION_BUDGET=$((MAX_BYTES - ENVELOPE_RESERVE))
SECTION_BUDGET=$TOTAL_SECTION_BUDGET

# ---------------------------------------------------------------------------------------
# Sections. Each writes its body to $OUT and calls add_section.

meminfo() { awk -v k="$1:" '$1 == k { print $2; exit }' "$PROC_ROOT/meminfo" 2>/dev/null; }

section_host() {
    OUT="$WORK/host"; : >"$OUT"
    local fqdn cpus load1 up
    fqdn=$(run hostname -f 2>/dev/null || run hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null)
    HOST_NAME=${fqdn:-unknown}
    cpus=$(run nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
    is_int "$cpus" && [ "$cpus" -ge 1 ] || cpus=1
    read -r load1 load5 load15 _ 2>/dev/null <"$PROC_ROOT/loadavg" || load1='' 
    up=$(awk '{ s = int($1); printf "%dd %dh %dm", s / 86400, s % 86400 / 3600, s % 3600 / 60 }' "$PROC_ROOT/uptime" 2>/dev/null)
    {
        echo "host:    $HOST_NAME"
        echo "kernel:  $(run uname -srmo 2>/dev/null || run uname -a 2>/dev/null)"
        [ -r /etc/os-release ] && echo "os:      $(awk -F= '$1 == "PRETTY_NAME" { gsub(/"/, "", $2); print $2 }' /etc/os-release)"
        echo "uptime:  ${up:-unknown}"
        echo "load:    ${load1:-?} ${load5:-?} ${load15:-?} (1/5/15 min) on $cpus CPUs"
    } >>"$OUT"
    if [ -n "$load1" ] && awk -v l="$load1" -v c="$cpus" 'BEGIN { exit !(l > 2 * c) }'; then
        finding warning HIGH_LOAD "load average $load1 is more than twice the $cpus CPUs"
    fi
    add_section host "Host" "hostname -f; uname -srmo; /proc/uptime; /proc/loadavg; nproc" "$(cap_of 4096 3)" "$OUT"
}

section_memory() {
    OUT="$WORK/memory"; : >"$OUT"
    capture "$(cap_of 4096 3)" free -m
    local total avail
    total=$(meminfo MemTotal); avail=$(meminfo MemAvailable)
    if is_int "${total:-x}" && is_int "${avail:-x}" && [ "$total" -gt 0 ]; then
        echo "available: $((avail / 1024)) MiB of $((total / 1024)) MiB ($((avail * 100 / total)) %)" >>"$OUT"
        if [ $((avail * 100)) -lt $((total * 10)) ]; then
            finding critical LOW_MEMORY "only $((avail * 100 / total)) % of memory is available ($((avail / 1024)) MiB of $((total / 1024)) MiB)"
        fi
    fi
    add_section memory "Memory" "free -m; /proc/meminfo" "$(cap_of 4096 3)" "$OUT"
}

section_processes() { # id sort-key title
    OUT="$WORK/ps_$1"; : >"$OUT"
    capture 16384 ps -eo pid,user,rss,vsz,pcpu,pmem,etime,comm --sort="-$2"
    head -n 11 "$OUT" >"$OUT.top"
    add_section "processes_$1" "$3" "ps -eo pid,user,rss,vsz,pcpu,pmem,etime,comm --sort=-$2 | head -n 11" "$(cap_of 8192 5)" "$OUT.top"
}

DF_EXCLUDE=(-x tmpfs -x devtmpfs -x squashfs -x iso9660 -x efivarfs -x proc -x sysfs -x cgroup -x cgroup2 -x nsfs -x ramfs -x fuse.lxcfs)

section_disk() { # id df-flag title column-label code
    OUT="$WORK/df_$1"; : >"$OUT"
    capture 32768 df -P ${2:+"$2"} "${DF_EXCLUDE[@]}"
    # Use% (or IUse%) is column 5 of POSIX output; mount point is the rest.
    while IFS=$'\t' read -r pct mount; do
        finding warning "$5" "$mount is $pct % full ($4)"
    done < <(awk 'NR > 1 && $5 ~ /^[0-9]+%$/ { p = $5; sub(/%/, "", p); if (p + 0 > 90) { m = $6; for (i = 7; i <= NF; i++) m = m " " $i; print p "\t" m } }' "$OUT")
    add_section "$1" "$3" "df -P${2:+ $2} (local, real filesystems)" "$(cap_of 16384 8)" "$OUT"
}

KERNEL_LOG="$WORK/kernel_full"
kernel_messages() {
    # dmesg, then the journal, then a clear "not permitted".
    : >"$KERNEL_LOG"
    KERNEL_SOURCE="dmesg"
    if have dmesg && run dmesg -T 2>/dev/null | tail -c 1048576 >"$KERNEL_LOG" && [ -s "$KERNEL_LOG" ]; then return 0; fi
    if have dmesg && run dmesg 2>/dev/null | tail -c 1048576 >"$KERNEL_LOG" && [ -s "$KERNEL_LOG" ]; then return 0; fi
    KERNEL_SOURCE="journalctl -k"
    if have journalctl && run journalctl -k -b --no-pager -q -n 2000 2>/dev/null | tail -c 1048576 >"$KERNEL_LOG" && [ -s "$KERNEL_LOG" ]; then return 0; fi
    KERNEL_SOURCE="none"
    if ! have dmesg && ! have journalctl; then
        echo "dmesg and journalctl: not available on this node" >"$KERNEL_LOG"
    else
        echo "kernel messages: not permitted (dmesg and journalctl -k gave nothing; kernel.dmesg_restrict or container?)" >"$KERNEL_LOG"
    fi
    return 1
}

section_kernel() {
    OUT="$WORK/kernel"
    tail -n 50 "$KERNEL_LOG" >"$OUT"
    add_section kernel "Kernel messages (last 50)" "$KERNEL_SOURCE | tail -n 50" "$(cap_of 32768 10)" "$OUT"
}

section_oom() {
    OUT="$WORK/oom"; : >"$OUT"
    local count last
    if [ "$KERNEL_SOURCE" = none ]; then
        cat "$KERNEL_LOG" >"$OUT"
    else
        grep -E -i 'out of memory|oom-kill|oom_reaper|killed process|invoked oom-killer' "$KERNEL_LOG" | tail -n 20 >"$OUT"
        count=$(grep -E -c -i 'killed process|out of memory: kill' "$KERNEL_LOG")
        if [ "${count:-0}" -gt 0 ]; then
            last=$(grep -E -i 'killed process|out of memory: kill' "$KERNEL_LOG" | tail -n 1 | cut -c 1-200)
            finding critical OOM_KILL "the OOM killer killed $count process(es); last: $last"
        fi
        [ -s "$OUT" ] || echo "no OOM-killer events in the kernel messages" >"$OUT"
    fi
    add_section oom "OOM-killer events" "$KERNEL_SOURCE | grep -i 'out of memory|oom-kill|killed process'" "$(cap_of 16384 6)" "$OUT"
}

section_sockets() {
    OUT="$WORK/sockets"; : >"$OUT"
    local command
    if have ss; then
        command="ss -ltnup; ss -tan | count by state; established by peer"
        echo "== listening sockets" >>"$OUT"
        capture 24576 ss -ltnup
        {
            echo "== TCP connections by state"
            run ss -tan 2>/dev/null | awk 'NR > 1 { c[$1]++ } END { for (s in c) print c[s], s }' | sort -rn
            echo "== established connections by peer (top 10)"
            run ss -Htn state established 2>/dev/null | awk '{ p = $4; sub(/:[^:]*$/, "", p); c[p]++ } END { for (p in c) print c[p], p }' | sort -rn | head -n 10
        } >>"$OUT"
    elif have netstat; then
        command="netstat -ltnup; netstat -tan | count by state"
        echo "== listening sockets" >>"$OUT"
        capture 24576 netstat -ltnup
        echo "== TCP connections by state" >>"$OUT"
        run netstat -tan 2>/dev/null | awk '$1 ~ /^tcp/ { c[$6]++ } END { for (s in c) print c[s], s }' | sort -rn >>"$OUT"
    else
        command="ss / netstat"
        echo "ss and netstat: not available on this node" >>"$OUT"
    fi
    add_section sockets "Sockets" "$command" "$(cap_of 32768 10)" "$OUT"
}

# Resolves the log path and checks it; prints the canonical path or the reason it is refused.
check_log_path() {
    local path=$1 canon dir allowed
    if [ "${#path}" -gt 1024 ] || [[ $path == *[[:cntrl:]]* ]]; then
        echo "REJECT LOG_REJECTED log path is too long or holds control characters"; return
    fi
    [[ $path == /* ]] || { echo "REJECT LOG_REJECTED log path $path is not absolute"; return; }
    if ! canon=$(realpath -e -- "$path" 2>/dev/null); then
        echo "REJECT LOG_MISSING log path $path does not exist"; return
    fi
    allowed=""
    for dir in "${ALLOWED_DIRS[@]}"; do
        dir=$(realpath -m -- "$dir" 2>/dev/null) || continue
        dir=${dir%/}
        case "$canon" in "$dir"/*) allowed=$dir; break ;; esac
    done
    if [ -z "$allowed" ]; then
        echo "REJECT LOG_REJECTED log path $path resolves to $canon, outside the allowed directories (${ALLOWED_DIRS[*]})"; return
    fi
    [ -d "$canon" ] && { echo "REJECT LOG_REJECTED log path $path is a directory, not a file"; return; }
    [ -f "$canon" ] || { echo "REJECT LOG_REJECTED log path $path is not a regular file"; return; }
    [ -r "$canon" ] || { echo "REJECT LOG_UNREADABLE log path $path is not readable by $(id -un 2>/dev/null || id -u)"; return; }
    echo "OK $canon"
}

# A window read from the middle of a file starts mid-line: drop that partial line.
drop_partial_first_line() { # file-size window-size
    if [ "$1" -gt "$2" ]; then sed 1d; else cat; fi
}

section_log() {
    OUT="$WORK/log"; : >"$OUT"
    local verdict code canon size window command mode since_local before why
    if [ -z "$LOG_PATH" ]; then
        echo "no log_path was given to the task" >"$OUT"
        add_section log "Application log" "(none)" "$SECTION_BUDGET" "$OUT"
        return
    fi
    verdict=$(check_log_path "$LOG_PATH")
    if [[ $verdict == REJECT* ]]; then
        verdict=${verdict#REJECT }; code=${verdict%% *}
        finding warning "$code" "${verdict#* }"
        printf '%s\n' "${verdict#* }" >"$OUT"
        add_section log "Application log" "tail $LOG_PATH" "$SECTION_BUDGET" "$OUT"
        return
    fi
    canon=${verdict#OK }
    # Open once, then make sure what was opened is what was checked (no symlink swap).
    if ! exec 4<"$canon"; then
        finding warning LOG_UNREADABLE "log path $LOG_PATH could not be opened"
        echo "could not open $canon" >"$OUT"
        add_section log "Application log" "tail $LOG_PATH" "$SECTION_BUDGET" "$OUT"
        return
    fi
    if [ -e "/proc/$$/fd/4" ] && [ "$(readlink "/proc/$$/fd/4")" != "$canon" ]; then
        exec 4<&-
        finding warning LOG_REJECTED "log path $LOG_PATH changed while it was checked"
        echo "log path changed while it was checked" >"$OUT"
        add_section log "Application log" "tail $LOG_PATH" "$SECTION_BUDGET" "$OUT"
        return
    fi
    size=$(stat -L -c %s "/dev/fd/4" 2>/dev/null || stat -c %s -- "$canon")
    command="tail -n $LOG_LINES $canon"
    mode="tail"
    if [ -n "$SINCE" ] && since_local=$(date -d "$SINCE" +%Y-%m-%dT%H:%M:%S 2>/dev/null); then
        window=$SINCE_WINDOW; [ "$size" -lt "$window" ] && window=$size
        before=$((LOG_LINES / 2))
        tail -c "$window" /dev/fd/4 | drop_partial_first_line "$size" "$window" |
            awk -v since="$since_local" -v before="$before" -v total="$LOG_LINES" -v modefile="$WORK/mode" "$AWK_AROUND" >"$OUT"
        mode=$(cat "$WORK/mode" 2>/dev/null || echo no-stamps)
        if [ "$mode" = found ]; then
            command="$LOG_LINES lines around $since_local (node local time, event time $SINCE) in $canon"
        else
            case "$mode" in
                after-window) why="no line is stamped at or after it" ;;
                before-window) why="it is older than the last $((window / 1024)) KiB of the log" ;;
                *) why="the lines carry no ISO timestamps" ;;
            esac
            command="tail -n $LOG_LINES $canon (event time $SINCE: $why, so the tail is shown)"
            mode="tail"
        fi
    fi
    if [ "$mode" = tail ]; then
        window=$LOG_WINDOW; [ "$size" -lt "$window" ] && window=$size
        tail -c "$window" /dev/fd/4 | drop_partial_first_line "$size" "$window" | tail -n "$LOG_LINES" >"$OUT"
    fi
    exec 4<&-
    add_section log "Application log" "$command" "$SECTION_BUDGET" "$OUT" keep_tail
}

# ---------------------------------------------------------------------------------------
# Collect and print

COLLECTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
HOST_NAME=unknown
section_host
section_memory
section_processes rss rss "Top 10 processes by memory (RSS)"
section_processes cpu pcpu "Top 10 processes by CPU"
section_disk disk "" "Disk space" "space" DISK_FULL
section_disk inodes -i "Inodes" "inodes" INODES_FULL
kernel_messages
section_kernel
section_oom
section_sockets
section_log

if [ "$FINDING_COUNT" -gt "$MAX_FINDINGS" ]; then
    printf ',{"severity":"info","code":"MORE_FINDINGS","message":"%d more findings not shown"}' \
        "$((FINDING_COUNT - MAX_FINDINGS))" >>"$FINDINGS_FILE"
fi

{
    printf '{"version":"%s","host":%s,"collected_at":"%s","findings":[' "$TASK_VERSION" "$(json_str "$HOST_NAME" 256)" "$COLLECTED_AT"
    cat -- "$FINDINGS_FILE"
    printf '],"sections":['
    cat -- "$SECTIONS_FILE"
    printf '],"redactions":%d,"max_bytes":%d,"truncated":%s}\n' "$REDACTIONS" "$MAX_BYTES" "$TRUNCATED"
} >"$WORK/report.json"

if [ "$(wc -c <"$WORK/report.json")" -le "$MAX_BYTES" ]; then
    cat -- "$WORK/report.json"
else
    # Should not happen (every piece is budgeted); never break the max_bytes promise.
    printf '{"version":"%s","host":%s,"collected_at":"%s","findings":[],"sections":[],"redactions":%d,"max_bytes":%d,"truncated":true}\n' \
        "$TASK_VERSION" "$(json_str "$HOST_NAME" 256)" "$COLLECTED_AT" "$REDACTIONS" "$MAX_BYTES"
fi
exit 0
