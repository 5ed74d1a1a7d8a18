# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Relevance to this event, judged once every finding is in: a condition that cannot have
# caused the event (a filesystem mounted read-only that nothing writes to, a task stuck for
# hours, a full filesystem nothing reported failing to write to) is lowered to info or
# warning and says why; then findings are ordered so the first one is the cause: the
# node's evidence before the application's report of it (node states that follow from
# other evidence, such as low-memory or io-saturated, after the stall or event that
# explains them), and the app's error-count summaries (app-errors, app-error-spike:
# symptoms, never a cause) after both.

read -r -d '' AWK_RELEVANCE <"$LIB/relevance.awk"

judge_findings() {
    [ -s "$FINDINGS_TSV" ] || return 0
    awk -v causes="$APP_CAUSES" -v mounts="$WORK/p.mounts" "$AWK_RELEVANCE" "$WORK/p.mounts" "$FINDINGS_TSV" >"$WORK/findings.judged" &&
        mv -f -- "$WORK/findings.judged" "$FINDINGS_TSV"
}
