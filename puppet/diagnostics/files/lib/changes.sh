# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# What changed on this box shortly before the event: the last Puppet run (summary and
# report, read with bounded effort; Puppet itself is never run) and package changes
# (dpkg, apt, dnf/yum, zypper logs). Service restarts are in systemd.sh, reboots in host.sh.

readonly PUPPET_STATE_DIRS=(/opt/puppetlabs/puppet/cache/state /var/lib/puppet/state /var/cache/puppet/state)
# Puppet 6+ writes last_run_summary.yaml to its publicdir (same index), the report stays in statedir.
readonly PUPPET_PUBLIC_DIRS=(/opt/puppetlabs/puppet/public /var/lib/puppet/public /var/cache/puppet/public)
readonly PACKAGE_LOGS=(/var/log/dpkg.log /var/log/apt/history.log /var/log/dnf.rpm.log /var/log/yum.log /var/log/zypp/history)
readonly CHANGE_READ_BYTES=262144     # read from the end of each package log
readonly REPORT_READ_BYTES=4194304    # read from the start of last_run_report.yaml

gather_changes() {
    CHANGES_IN="$WORK/changes_in"; : >"$CHANGES_IN"
    local d f i
    PUPPET_DIR=""; PUPPET_SUMMARY=""
    for i in "${!PUPPET_STATE_DIRS[@]}"; do
        d=${PUPPET_STATE_DIRS[$i]}
        for f in "$d/last_run_summary.yaml" "${PUPPET_PUBLIC_DIRS[$i]}/last_run_summary.yaml"; do
            if [ -r "$f" ]; then PUPPET_SUMMARY=$f; break; fi
        done
        if [ -n "$PUPPET_SUMMARY" ] || [ -r "$d/last_run_report.yaml" ]; then PUPPET_DIR=$d; break; fi
    done
    if [ -n "$PUPPET_DIR" ]; then
        { if [ -n "$PUPPET_SUMMARY" ]; then echo "@@summary"; head -c 65536 "$PUPPET_SUMMARY"; echo; fi
          if [ -r "$PUPPET_DIR/last_run_report.yaml" ]; then echo "@@report"; head -c "$REPORT_READ_BYTES" "$PUPPET_DIR/last_run_report.yaml"; echo; fi
        } >>"$CHANGES_IN"
    fi
    for f in "${PACKAGE_LOGS[@]}"; do
        if [ ! -f "$f" ] || [ ! -r "$f" ]; then continue; fi
        { echo "@@pkg $f"; tail -c "$CHANGE_READ_BYTES" "$f" | tail -n +2; echo; } >>"$CHANGES_IN"
    done
}

read -r -d '' AWK_CHANGES <"$LIB/changes.awk"

section_changes() {
    OUT="$WORK/changes"
    awk -v ev="$EV" -v tzoff="$TZOFF" -v evyear="$EVYEAR" -v window="$((CHANGE_WINDOW * 60))" -v ffile="$FINDINGS_TSV" \
        "$AWK_TIME $AWK_FIND $AWK_CHANGES" "$CHANGES_IN" >"$OUT"
    add_section changes "What changed on this box" "${PUPPET_SUMMARY:-${PUPPET_DIR:-(no Puppet state)}/last_run_summary.yaml}, ${PUPPET_DIR:-(no Puppet state)}/last_run_report.yaml; ${PACKAGE_LOGS[*]}; change window ${CHANGE_WINDOW} min" "cap:8192:3" "$OUT"
}
