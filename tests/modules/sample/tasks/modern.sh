#!/bin/sh
# Reports which implementation ran and the input it got, by environment (test task).
printf '{"impl": "modern.sh", "mode": "%s", "noop": "%s", "target_var": "%s", "stdin": "%s"}\n' \
  "$PT_mode" "${PT__noop:-}" "${PT__target:-}" "$(cat | head -c 100)"
