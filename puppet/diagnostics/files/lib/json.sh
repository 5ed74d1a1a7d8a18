# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# JSON output helpers: the one escaper (secrets masked, valid UTF-8, bounded) and a
# fork-free fallback for when the node has no process slots left.

# Redacts secrets and writes the input as the *contents* of a JSON string (no quotes),
# valid UTF-8 (bad bytes become U+FFFD), at most `limit` bytes; exit 3 when cut. The cut
# drops the end, or with keep_tail=1 whole oldest lines (a log's newest lines matter).
# Writes the number of masked values to `countfile`. Input must hold no NUL bytes.
# With per_line=1 each input line becomes its own string body on one output line, each
# cut to `limit` (used for the findings, escaped in one pass instead of one awk each).
read -r -d '' AWK_ESCAPE <"$LIB/escape.awk"


# Prints "$1" as a quoted JSON string of at most $2 (default 512) bytes, secrets masked.
json_str() {
    if [ "${DEGRADED:-0}" = 1 ]; then json_str_builtin "$1" "${2:-512}"; return; fi
    printf '"'
    printf '%s' "$1" | tr -d '\000' | awk -v limit="${2:-512}" -v redact=1 -v countfile= "$AWK_ESCAPE"
    printf '"'
}

# Builtins only (no fork): printable ASCII kept, everything else becomes "?". Used when
# fork fails; the text it gets is the task's own (numbers, paths), never a log.
json_str_builtin() { # text [limit]
    local s=${1:0:${2:-512}}
    s=${s//[^ -~]/?}
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}
