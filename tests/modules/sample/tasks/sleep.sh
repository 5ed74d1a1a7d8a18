#!/bin/sh
sleep "$PT_seconds"
echo '{"slept": true}'
