#!/usr/bin/env bash
# remediation::restart_service -- restart ONE systemd service, only if the admin allowed it.
#
# The one place that decides whether a restart may happen is this script on the node:
# the caller (sentry-autodiag, the PE console, Bolt) names a service and passes the
# admin's allowlist; anything not in that list is refused here, whoever asked. The unit
# name is validated strictly (no options, globs, paths or escapes reach systemctl), every
# command runs under `timeout`, and a noop run (`_noop: true`) only reports what it would
# do. Output is ONE JSON object: the unit's state before and after, or `_error` with a
# non-zero exit when it refused, could not restart, or the unit is not active afterwards.
# Needs only bash and coreutils (timeout, sleep) besides systemctl.
set -u
export LC_ALL=C
umask 077

readonly TASK_VERSION="0.1.0"
readonly PROPERTIES="LoadState,ActiveState,SubState,MainPID,NRestarts,ActiveEnterTimestamp"
readonly MAX_ALLOWED=64
readonly SHOW_TIMEOUT=10
readonly NO_DETAILS="{}"

# json_str TEXT: TEXT as a JSON string; control characters are dropped, at most 512 bytes
# (a cut never leaves half a UTF-8 character).
json_str() {
    local s=${1:0:512}
    local tail lead need=1
    if [ "${#1}" -gt 512 ]; then
        tail=${s##*[!$'\x80'-$'\xbf']}
        lead=${s:$((${#s} - ${#tail} - 1)):1}
        case $lead in
            [$'\xc0'-$'\xdf']) need=2 ;;
            [$'\xe0'-$'\xef']) need=3 ;;
            [$'\xf0'-$'\xff']) need=4 ;;
        esac
        [ $((${#tail} + 1)) -lt "$need" ] && s=${s:0:$((${#s} - ${#tail} - 1))}
    fi
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//[$'\001'-$'\037'$'\177']/}
    printf '"%s"' "$s"
}

# fail KIND MESSAGE [DETAILS_JSON]: the task's error object (PE shows msg), exit 1.
fail() {
    printf '{"_error":{"kind":"remediation/%s","msg":%s,"details":%s},"version":"%s"}\n' \
        "$1" "$(json_str "$2")" "${3:-$NO_DETAILS}" "$TASK_VERSION"
    exit 1
}

# unit_name TEXT: the canonical unit (NAME.service) of a valid service name, else nothing and
# status 1. Allowed: letters, digits and : _ . - @ (an instance after @ is required), at most
# 200 characters, first character alphanumeric (so never an option), no "..", and no other
# unit type than .service.
unit_name() {
    local name=$1
    [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,199}$ ]] || return 1
    [[ $name == *..* ]] && return 1
    if [[ $name == *.* && $name != *.service ]]; then
        # a dot is fine inside a name (foo.bar.service) but another unit type is not
        case $name in
            *.socket | *.target | *.timer | *.mount | *.automount | *.swap | *.path | *.slice | *.scope | *.device)
                return 1 ;;
        esac
    fi
    [[ $name == *.service ]] || name="$name.service"
    [[ $name =~ ^[^@]+(@[A-Za-z0-9:_.-]+)?\.service$ ]] || return 1
    [[ $name == *@.service ]] && return 1
    printf '%s' "$name"
}

# parse_allowed JSON_ARRAY: fills ALLOWED with the canonical units of ["a", "b.service", ...].
parse_allowed() {
    local text=$1 item rest unit
    ALLOWED=()
    [[ $text =~ ^[[:space:]]*\[(.*)\][[:space:]]*$ ]] || return 1
    rest=${BASH_REMATCH[1]}
    [[ $rest =~ ^[[:space:]]*$ ]] && return 1
    while :; do
        [[ $rest =~ ^[[:space:]]*\"([^\"\\]*)\"[[:space:]]*(,(.*))?$ ]] || return 1
        item=${BASH_REMATCH[1]}
        rest=${BASH_REMATCH[3]}
        unit=$(unit_name "$item") || return 1
        ALLOWED+=("$unit")
        [ "${#ALLOWED[@]}" -le "$MAX_ALLOWED" ] || return 1
        [ -z "${BASH_REMATCH[2]}" ] && break
    done
    return 0
}

# state UNIT: the unit's properties as a JSON object (values as systemctl shows them).
STATE_JSON=""
LOAD_STATE=""
ACTIVE_STATE=""
state() {
    local out line key value first=1
    LOAD_STATE="" ACTIVE_STATE=""
    out=$(timeout --kill-after=2 "$SHOW_TIMEOUT" systemctl show --property="$PROPERTIES" -- "$1" 2>/dev/null) || return 1
    STATE_JSON="{"
    while IFS= read -r line; do
        key=${line%%=*}
        value=${line#*=}
        case ",$PROPERTIES," in *",$key,"*) ;; *) continue ;; esac
        [ "$key" = LoadState ] && LOAD_STATE=$value
        [ "$key" = ActiveState ] && ACTIVE_STATE=$value
        if [ "$key" = MainPID ] || [ "$key" = NRestarts ]; then
            if [[ $value =~ ^[0-9]{1,10}$ ]]; then value=$((10#$value)); else value=null; fi
        else
            value=$(json_str "$value")
        fi
        [ $first = 1 ] || STATE_JSON+=","
        first=0
        STATE_JSON+="\"$key\":$value"
    done <<< "$out"
    STATE_JSON+="}"
    [ -n "$LOAD_STATE" ]
}

# --- parameters (PT_* environment variables: input_method environment) -------------------

SERVICE_RAW=${PT_service-}
ALLOWED_RAW=${PT_allowed_services-}
NOOP=0
case "${PT__noop:-false}" in true) NOOP=1 ;; false | "") ;; *) fail invalid-parameter "_noop must be true or false" ;; esac
TIMEOUT=${PT_timeout_seconds:-60}
SETTLE=${PT_settle_seconds:-2}
if ! [[ $TIMEOUT =~ ^[0-9]{1,3}$ ]] || [ "$TIMEOUT" -lt 5 ] || [ "$TIMEOUT" -gt 300 ]; then
    fail invalid-parameter "timeout_seconds must be a whole number from 5 to 300" '{"parameter":"timeout_seconds"}'
fi
if ! [[ $SETTLE =~ ^[0-9]{1,2}$ ]] || [ "$SETTLE" -gt 30 ]; then
    fail invalid-parameter "settle_seconds must be a whole number from 0 to 30" '{"parameter":"settle_seconds"}'
fi

[ -n "$SERVICE_RAW" ] || fail invalid-parameter "service is required" '{"parameter":"service"}'
UNIT=$(unit_name "$SERVICE_RAW") ||
    fail invalid-parameter "service is not a valid systemd service name (letters, digits, : _ . - @; no other unit type)" \
        '{"parameter":"service"}'
parse_allowed "$ALLOWED_RAW" ||
    fail invalid-parameter "allowed_services must be a list of 1 to $MAX_ALLOWED valid service names" \
        '{"parameter":"allowed_services"}'

allowed=0
for a in "${ALLOWED[@]}"; do
    [ "$a" = "$UNIT" ] && allowed=1
done
[ $allowed = 1 ] || fail not-allowed "$UNIT is not in allowed_services; nothing was done" \
    "{\"service\":$(json_str "$UNIT")}"

command -v systemctl >/dev/null 2>&1 || fail systemctl-unavailable "systemctl was not found on this node"

# --- before, restart, after ---------------------------------------------------------------

state "$UNIT" || fail show-failed "systemctl show $UNIT did not answer" "{\"service\":$(json_str "$UNIT")}"
BEFORE=$STATE_JSON
if [ "$LOAD_STATE" != loaded ]; then
    fail not-found "$UNIT is not loaded on this node (LoadState=$LOAD_STATE); nothing was done" \
        "{\"service\":$(json_str "$UNIT"),\"before\":$BEFORE}"
fi
COMMAND="systemctl restart -- $UNIT"

if [ $NOOP = 1 ]; then
    printf '{"version":"%s","service":%s,"action":"restart","noop":true,"would_run":%s,"message":%s,"before":%s,"after":null}\n' \
        "$TASK_VERSION" "$(json_str "$UNIT")" "$(json_str "$COMMAND")" \
        "$(json_str "noop: would restart $UNIT (now $ACTIVE_STATE); nothing was changed")" "$BEFORE"
    exit 0
fi

restart_rc=0
restart_err=$(timeout --kill-after=5 "$TIMEOUT" systemctl restart -- "$UNIT" 2>&1 >/dev/null) || restart_rc=$?
[ "$SETTLE" -gt 0 ] && timeout 31 sleep "$SETTLE"
AFTER=null
state "$UNIT" && AFTER=$STATE_JSON
DETAILS="{\"service\":$(json_str "$UNIT"),\"before\":$BEFORE,\"after\":$AFTER,\"exit_code\":$restart_rc}"
if [ $restart_rc = 124 ] || [ $restart_rc = 137 ]; then
    fail restart-timeout "systemctl restart $UNIT did not return within $TIMEOUT s" "$DETAILS"
fi
if [ $restart_rc != 0 ]; then
    fail restart-failed "systemctl restart $UNIT failed (exit $restart_rc): ${restart_err:0:300}" "$DETAILS"
fi
if [ "$AFTER" = null ] || [ "$ACTIVE_STATE" != active ]; then
    fail not-active "$UNIT is ${ACTIVE_STATE:-unknown} after the restart" "$DETAILS"
fi
printf '{"version":"%s","service":%s,"action":"restart","noop":false,"ran":%s,"message":%s,"before":%s,"after":%s}\n' \
    "$TASK_VERSION" "$(json_str "$UNIT")" "$(json_str "$COMMAND")" \
    "$(json_str "restarted $UNIT: it is active again")" "$BEFORE" "$AFTER"
