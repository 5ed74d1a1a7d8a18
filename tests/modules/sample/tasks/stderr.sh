#!/bin/sh
echo "warning: dmesg is restricted" >&2
echo '{"ok": true}'
