# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# The application log: vetted once (path inside allowed_log_dirs, regular, readable, the
# file opened is the file checked), then shown (the lines around the event, else the
# tail) and analysed by applog_analysis.sh. Never read whole.

readonly LOG_WINDOW=$((8 * 1024 * 1024))    # bytes read from the end of the log for a tail
readonly SINCE_WINDOW=$((32 * 1024 * 1024)) # bytes searched for the event time

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
# Opens and vets the log once (fd 4) for both the analysis and the log section; sets
# LOG_CANON and LOG_SIZE, or LOG_VERDICT to the reason it was refused.
open_log() {
    LOG_CANON=""; LOG_VERDICT=""
    [ -n "$LOG_PATH" ] || return 1
    local verdict
    verdict=$(check_log_path "$LOG_PATH")
    if [[ $verdict == REJECT* ]]; then LOG_VERDICT=${verdict#REJECT }; return 1; fi
    LOG_CANON=${verdict#OK }
    # Open once, then make sure what was opened is what was checked (no symlink swap).
    if ! exec 4<"$LOG_CANON"; then
        LOG_VERDICT="LOG_UNREADABLE log path $LOG_PATH could not be opened"; LOG_CANON=""; return 1
    fi
    if [ -e "/proc/$$/fd/4" ] && [ "$(readlink "/proc/$$/fd/4")" != "$LOG_CANON" ]; then
        exec 4<&-
        LOG_VERDICT="LOG_REJECTED log path $LOG_PATH changed while it was checked"; LOG_CANON=""; return 1
    fi
    LOG_SIZE=$(stat -L -c %s "/dev/fd/4" 2>/dev/null || stat -c %s -- "$LOG_CANON")
}

section_log() {
    OUT="$WORK/log"; : >"$OUT"
    local code canon size window command mode since_local before why
    if [ -z "$LOG_PATH" ]; then
        echo "no log_path was given to the task" >"$OUT"
        add_section log "Application log" "(none)" "$SECTION_BUDGET" "$OUT"
        return
    fi
    if [ -z "$LOG_CANON" ]; then
        code=${LOG_VERDICT%% *}; code=${code,,}; code=${code//_/-}
        finding warning "$code" log "${LOG_VERDICT#* }"
        printf '%s\n' "${LOG_VERDICT#* }" >"$OUT"
        add_section log "Application log" "tail $LOG_PATH" "$SECTION_BUDGET" "$OUT"
        return
    fi
    canon=$LOG_CANON size=$LOG_SIZE
    command="tail -n $LOG_LINES $canon"
    mode="tail"
    if [ -n "$SINCE" ] && since_local=$(date -d "@$EV" +%Y-%m-%dT%H:%M:%S 2>/dev/null); then
        window=$SINCE_WINDOW; [ "$size" -lt "$window" ] && window=$size
        before=$((LOG_LINES / 2))
        tail -c "$window" /dev/fd/4 | drop_partial_first_line "$size" "$window" |
            awk -v ev="$EV" -v tzoff="$TZOFF" -v evyear="$EVYEAR" -v before="$before" -v total="$LOG_LINES" -v modefile="$WORK/mode" "$AWK_TIME $AWK_AROUND" >"$OUT"
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


# Keeps the log lines around the first line stamped at or after the event (epoch `ev`,
# stamps read by stamp()); `before` lines before it, `total` lines in all. Writes the
# outcome to `modefile`: found, after-window (all stamps older), before-window, no-stamps.
read -r -d '' AWK_AROUND <"$LIB/around.awk"

