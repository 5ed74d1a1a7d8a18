# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Task input: the JSON object on stdin and the PT_<name> variables (the environment wins).
# A parameter that is absent, or sent as JSON null, gets its default.

# Reads a flat JSON object (the task input) and prints one "key<TAB>value" line per
# scalar and per string element of an array. Control characters in values become "?".
# A JSON null (a value or an array element) prints nothing: the task specification
# says a null parameter is an absent one.
read -r -d '' AWK_PARSE_INPUT <"$LIB/parse_input.awk"


# Parses the stdin JSON (read by the entry point into STDIN_JSON, at most 64 KiB) into
# $WORK/input as "key<TAB>value" lines; exits with a bad-input error when it is not an object.
parse_stdin() {
    : >"$WORK/input"
    if [ -n "${STDIN_JSON:-}" ] && [[ ${STDIN_JSON} == *[![:space:]]* ]]; then
        printf '%s' "$STDIN_JSON" | awk "$AWK_PARSE_INPUT" >"$WORK/input" || {
            printf '{"_error":{"kind":"diagnostics/bad-input","msg":"the task input on stdin is not a JSON object","details":{}}}\n'
            exit 1
        }
    fi
}

# name -> value from PT_<name>, else from the stdin JSON (first value); "null" is absent.
param() {
    local var="PT_$1"
    if [ -n "${!var+set}" ] && [ "${!var}" != null ]; then printf '%s' "${!var}"; return 0; fi
    [ -n "${!var+set}" ] && return 0
    [ -r "$WORK/input" ] || return 0
    awk -F '\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$WORK/input"
}

# name -> one element per line, from a JSON array in PT_<name> or stdin; null is absent.
param_list() {
    local var="PT_$1"
    if [ -n "${!var+set}" ]; then
        case "${!var}" in
            null) ;;
            \[*) printf '{"v":%s}' "${!var}" | awk "$AWK_PARSE_INPUT" | awk -F '\t' '$1 == "v" && $2 != "\001array" { sub(/^[^\t]*\t/, ""); print }' ;;
            *) printf '%s\n' "${!var}" ;;
        esac
        return 0
    fi
    [ -r "$WORK/input" ] || return 0
    awk -F '\t' -v k="$1" '$1 == k && $2 != "\001array" { sub(/^[^\t]*\t/, ""); print }' "$WORK/input"
}

param_error() {
    printf '{"_error":{"kind":"diagnostics/invalid-parameter","msg":%s,"details":{"parameter":"%s"}}}\n' "$(json_str "$2" 400)" "$1"
    exit 1
}
is_int() { [[ $1 =~ ^[0-9]{1,9}$ ]]; }
in_range() { is_int "$1" && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# Reads and checks every parameter into globals.
read_params() {
    LOG_PATH=$(param log_path)
    LOG_LINES=$(param log_lines); LOG_LINES=${LOG_LINES:-200}
    SINCE=$(param since)
    MAX_BYTES=$(param max_bytes); MAX_BYTES=${MAX_BYTES:-262144}
    CHANGE_WINDOW=$(param change_window_minutes); CHANGE_WINDOW=${CHANGE_WINDOW:-60}
    mapfile -t ALLOWED_DIRS < <(param_list allowed_log_dirs)
    [ "${#ALLOWED_DIRS[@]}" -eq 0 ] && ALLOWED_DIRS=(/var/log)
    if ! in_range "$LOG_LINES" 1 5000; then param_error log_lines "log_lines must be an integer from 1 to 5000"; fi
    if ! in_range "$MAX_BYTES" 16384 16777216; then param_error max_bytes "max_bytes must be an integer from 16384 to 16777216"; fi
    if ! in_range "$CHANGE_WINDOW" 1 10080; then param_error change_window_minutes "change_window_minutes must be an integer from 1 to 10080"; fi
    local since_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$' d
    if [ -n "$SINCE" ] && ! [[ $SINCE =~ $since_re ]]; then
        param_error since "since must be an ISO-8601 time such as 2026-11-21T03:12:45Z"
    fi
    for d in "${ALLOWED_DIRS[@]}"; do
        [[ $d == /* ]] || param_error allowed_log_dirs "allowed_log_dirs must hold absolute directory paths"
    done
}
