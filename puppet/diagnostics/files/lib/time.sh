# shellcheck shell=bash
# shellcheck disable=SC2034  # globals shared between the lib files and the entry point
# Time arithmetic for awk programs (mawk has no mktime): civil date <-> epoch, and the
# timestamp at the start of a log, journal or kernel line. Prepended to the programs
# that judge evidence against the event time.

read -r -d '' AWK_TIME <"$LIB/time.awk"
