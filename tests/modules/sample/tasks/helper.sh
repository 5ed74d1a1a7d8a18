#!/bin/sh
# Sources a staged helper and reports where it runs from and what was staged (test task).
. "$PT__installdir/sample/files/lib/greet.sh"
stdin=$(cat)
files=$(cd "$PT__installdir" && find . -type f | sort | tr '\n' ' ')
printf '{"greeting": "%s", "installdir": "%s", "self": "%s", "files": "%s", "stdin": %s}\n' \
  "$(greet)" "$PT__installdir" "$0" "$files" "$stdin"
