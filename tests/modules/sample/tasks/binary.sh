#!/bin/sh
# Terminal escapes, C0/C1 controls, a replacement character and an unmasked secret, as valid
# UTF-8 (invalid UTF-8 fails the run on pxp-agent: see sample::badutf8) (test task).
printf 'start \357\277\275\001\033[2J\033]0;owned\007 \302\233 token=abc123 end\n'
printf 'bidi \342\200\256override\342\200\254 zero\342\200\213width\n'
printf '\n```\n<script>alert(1)</script>\n'
