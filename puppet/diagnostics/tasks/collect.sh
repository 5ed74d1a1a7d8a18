#!/usr/bin/env bash
# shellcheck disable=SC2034  # globals are read by the sourced files/lib/*.sh
# diagnostics::collect -- read-only, bounded diagnostics of one node, as ONE JSON object,
# with findings that name the likely cause of an error at the event time (`since`).
#
# Runs as root on production nodes through the Puppet orchestrator (or Bolt), so it is
# deliberately boring: it reads, never writes outside a private temp dir it removes,
# makes no network calls, runs every command under a timeout, never reads a whole log,
# masks secrets before anything leaves the node, and never prints more than max_bytes.
# Needs only bash, coreutils and awk on the node (no jq, no python).
#
# This file is the one entry point; each collector lives in its own file under
# files/lib/, shipped with the task (metadata `files`) and found through `_installdir`.
# Parameters arrive as PT_<name> environment variables and/or a JSON object on stdin.
set -u
export LC_ALL=C
umask 077

readonly TASK_VERSION="0.3.0"
# Where /proc is read from; only the unit tests point it elsewhere (PE passes PT_* only).
readonly PROC_ROOT="${DIAGNOSTICS_PROC_ROOT:-/proc}"
readonly LIB_FILES=(json time input report sample host cpu memory io processes disk kernel fds net
    clock systemd journal changes applog applog_analysis degraded cgroup relevance)

# The lib dir: <_installdir>/diagnostics/files/lib (pxp-agent, Bolt), else next to this
# script (run from the module itself). Each collector is a .sh (sourced) with its .awk
# program beside it. Every file must be there, and be ours (as root) or
# not writable by us (as another user): nobody else may slip code into a root task.
# Builtin tests only: this runs before the task knows whether it may fork.
find_lib() {
    local dir installdir="${PT__installdir:-}" f
    for dir in ${installdir:+"$installdir/diagnostics/files/lib"} "${BASH_SOURCE[0]%/*}/../files/lib"; do
        for f in "${LIB_FILES[@]}"; do [ -r "$dir/$f.sh" ] || continue 2; done
        for f in "$dir"/*.sh "$dir"/*.awk; do
            if [ "${EUID:-0}" = 0 ] && [ ! -O "$f" ]; then continue 2; fi
            if [ "${EUID:-0}" != 0 ] && [ ! -O "$f" ] && [ -w "$f" ]; then continue 2; fi
        done
        LIB=$dir; return 0
    done
    return 1
}

# stdin is read first (it may carry _installdir); the lib holds the JSON parser, so the
# raw text is kept and parsed once the lib is loaded.
STDIN_JSON=""
if [ ! -t 0 ]; then IFS= read -r -d '' -t 5 -N 65536 STDIN_JSON || true; fi
# (No bounded repetition like {1,4000} here: glibc compiles it into a 200 MB automaton.)
if [ -z "${PT__installdir:-}" ] && [[ $STDIN_JSON =~ \"_installdir\"[[:space:]]*:[[:space:]]*\"(/[^\"\\]*)\" ]]; then
    PT__installdir=${BASH_REMATCH[1]:0:4096}
fi
if ! find_lib; then
    printf '{"_error":{"kind":"diagnostics/missing-files","msg":"the task helper files (diagnostics/files/lib) were not found: is the module deployed whole and the task metadata files key intact?","details":{}}}\n'
    exit 1
fi
for f in "${LIB_FILES[@]}"; do
    # shellcheck source=/dev/null
    . "$LIB/$f.sh"
done

# Out of process slots: no fork is possible, so report what builtins can see and stop.
if out_of_process_slots; then report_without_forking; exit 0; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/diagnostics.XXXXXXXX") || {
    printf '{"_error":{"kind":"diagnostics/no-tempdir","msg":"could not create a private temp dir","details":{}}}\n'
    exit 1
}
trap 'rm -rf -- "$WORK"' EXIT
trap 'exit 130' INT TERM

parse_stdin
read_params

SECTIONS_FILE="$WORK/sections"; FINDINGS_TSV="$WORK/findings.tsv"
: >"$SECTIONS_FILE"; : >"$FINDINGS_TSV"
RESERVE=$ENVELOPE_RESERVE; [ $((MAX_BYTES / 4)) -lt "$RESERVE" ] && RESERVE=$((MAX_BYTES / 4))
TOTAL_SECTION_BUDGET=$((MAX_BYTES - RESERVE))
SECTION_BUDGET=$TOTAL_SECTION_BUDGET

# The event time every finding is judged against (now when no `since` is given).
COLLECTED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
NOW=$(date +%s)
EV=$NOW
if [ -n "$SINCE" ]; then EV=$(date -d "$SINCE" +%s 2>/dev/null) || EV=$NOW; fi
read -r EVYEAR TZOFF_RAW < <(date -d "@$EV" '+%Y %z')
TZOFF=$(( (${TZOFF_RAW:0:1}1) * (10#${TZOFF_RAW:1:2} * 3600 + 10#${TZOFF_RAW:3:2} * 60) ))
HOST_NAME=unknown CPUS=1 BTIME=0

# Sample 1, then the slow collectors while the interval runs, then sample 2.
find_app_cgroup
take_sample 1
sample_cgroup 1
gather_processes
gather_kernel
gather_net
gather_systemd
gather_journal
gather_clock
gather_changes
gather_fds
open_log
analyse_app
finish_interval
take_sample 2
sample_cgroup 2

section_host
section_cpu
section_memory
section_cgroup
section_io
section_processes rss rss "Top 10 processes by memory (RSS)"
section_processes cpu pcpu "Top 10 processes by CPU"
section_disk disk "" "Disk space" "space" disk-full
section_disk inodes -i "Inodes" "inodes" inodes-full
section_mounts
section_kernel
section_fds
section_network
section_clock
section_systemd
section_journal
section_changes
section_app_errors
section_log

judge_findings
print_report
exit 0
