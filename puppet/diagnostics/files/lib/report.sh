# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# The report: findings (ranked, capped), sections (each cut to a share of max_bytes) and
# the envelope. Collectors call finding/add_section; main calls print_report once.

readonly CMD_TIMEOUT=10            # seconds for any single command
readonly ENVELOPE_RESERVE=12288    # bytes kept for the envelope and the findings (max_bytes/4 at most)
readonly MAX_FINDINGS=20
readonly MAX_CRITICAL=5            # "at most a handful": further criticals are shown as warnings
readonly MAX_PER_CODE=3

have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command with a time limit (when coreutils' timeout exists); never reads stdin.
run() {
    if have timeout; then timeout -k 2 "$CMD_TIMEOUT" "$@" </dev/null; else "$@" </dev/null; fi
}

REDACTIONS=0
TRUNCATED=false
SECTION_BUDGET=0   # bytes left for all sections; set once the parameters are known
SECTION_COUNT=0

# Records a finding: severity code section message [epoch of the evidence].
# Stored as TSV (rank, distance to the event, ...) and sorted when the report is printed.
finding() {
    local rank at=${5:-} dist=0 msg=$4
    case $1 in critical) rank=0 ;; warning) rank=1 ;; *) rank=2 ;; esac
    if [ -n "$at" ] && is_int "$at"; then dist=$((at - EV)); dist=${dist#-}; else at=""; fi
    msg=${msg//[$'\t\n\r']/ }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rank" "$dist" "$1" "$2" "$3" "$at" "$msg" >>"$FINDINGS_TSV"
}

# The same, for awk programs: fnd(severity, code, section, message, epoch or "").
read -r -d '' AWK_FIND <"$LIB/find.awk"

# Sets variable $1 to "$2" as a JSON string without forking (our own titles and commands).
json_var() { # var text limit
    local s=${2:0:${3:-512}}
    s=${s//[^ -~]/?}; s=${s//\\/\\\\}; s=${s//\"/\\\"}
    printf -v "$1" '"%s"' "$s"
}

# Appends one section. Its body is the file $5, cut to min($4, what is left) bytes:
# its end is cut, or with $6 = keep_tail its oldest lines.
add_section() { # id title command cap bodyfile [keep_tail]
    local id=$1 title=$2 command=$3 cap=$4 body=$5 keep_tail=0 meta limit rc count_file="$WORK/count" cut=false jt jc n used
    [ "${6:-}" = keep_tail ] && keep_tail=1
    if [[ $cap == cap:* ]]; then cap_of "${cap#cap:}"; cap=$CAP; fi
    json_var jt "$title" 200; json_var jc "$command" 1200
    meta="{\"id\":\"$id\",\"title\":$jt,\"command\":$jc,\"body\":\""
    limit=$((SECTION_BUDGET - ${#meta} - 32))
    [ "$cap" -lt "$limit" ] && limit=$cap
    [ "$limit" -lt 0 ] && limit=0
    # A log body is cut to the limit in raw bytes first (escaping only grows it; the
    # escaper keeps a tail's lines in memory). Other bodies are bounded where captured.
    if [ "$keep_tail" = 1 ] && [ "$(wc -c <"$body")" -gt "$limit" ]; then
        if [ "$keep_tail" = 1 ]; then tail -c "$limit" "$body" | sed 1d; else head -c "$limit" "$body"; fi >"$body.cut"
        mv -f -- "$body.cut" "$body"; cut=true
    fi
    [ "$SECTION_COUNT" -gt 0 ] && { printf ',' >>"$SECTIONS_FILE"; SECTION_BUDGET=$((SECTION_BUDGET - 1)); }
    SECTION_COUNT=$((SECTION_COUNT + 1))
    {
        printf '%s' "$meta"
        tr -d '\000' <"$body" | awk -v limit="$limit" -v redact=1 -v keep_tail="$keep_tail" -v countfile="$count_file" "$AWK_ESCAPE"
        rc=${PIPESTATUS[1]}
        [ "$rc" -eq 3 ] && cut=true
        printf '","truncated":%s}' "$cut"
    } >>"$SECTIONS_FILE"
    n=0 used=$limit; read -r n used 2>/dev/null <"$count_file"; is_int "$n" || n=0; is_int "$used" || used=$limit
    REDACTIONS=$((REDACTIONS + n))
    [ "$cut" = true ] && TRUNCATED=true
    # what this section took: its envelope, the escaped body the escaper counted, the tail
    SECTION_BUDGET=$((SECTION_BUDGET - ${#meta} - used - 24))
}

# Sets CAP for "fixed:percent": min(fixed bytes, percent of the section budget), at least
# 256. (A variable, not output: a command substitution would cost a fork per section.)
cap_of() {
    local fixed=${1%%:*} percent=${1#*:} c
    c=$((TOTAL_SECTION_BUDGET * percent / 100))
    [ "$c" -gt "$fixed" ] && c=$fixed
    [ "$c" -lt 256 ] && c=256
    CAP=$c
}

# Runs "$@" into file $OUT, capped at $1 bytes; "not available" when the tool is missing.
capture() { # cap cmd args...
    local cap=$1; shift
    if ! have "$1"; then echo "$1: not available on this node" >>"$OUT"; return 127; fi
    run "$@" 2>&1 | head -c "$((cap + 1))" >>"$OUT"
    return "${PIPESTATUS[0]}"
}

# Findings as a JSON array body: ranked by severity then closeness to the event; at most
# MAX_CRITICAL critical, MAX_PER_CODE per code and MAX_FINDINGS in all.
read -r -d '' AWK_FINDINGS <"$LIB/findings.awk"

print_findings() {
    [ -s "$FINDINGS_TSV" ] || return 0
    sort -s -t "$(printf '\t')" -k1,1n -k2,2n "$FINDINGS_TSV" >"$WORK/findings.sorted"
    cut -f 7- "$WORK/findings.sorted" | tr -d '\000' |
        awk -v limit=300 -v redact=1 -v per_line=1 -v countfile="$WORK/count" "$AWK_ESCAPE" >"$WORK/findings.msg"
    awk -v msgfile="$WORK/findings.msg" -v maxcrit="$MAX_CRITICAL" -v maxcode="$MAX_PER_CODE" -v maxf="$MAX_FINDINGS" \
        -v budget="$((RESERVE - 1536))" \
        "$AWK_TIME $AWK_FINDINGS" "$WORK/findings.sorted"
}

print_report() {
    {
        printf '{"version":"%s","host":%s,"collected_at":"%s","event_time":%s,"findings":[' \
            "$TASK_VERSION" "$(json_str "$HOST_NAME" 256)" "$COLLECTED_AT" "$(if [ -n "$SINCE" ]; then json_str "$SINCE" 64; else printf null; fi)"
        print_findings
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
}
