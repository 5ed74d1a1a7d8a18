#!/bin/sh
printf 'start \377\376\000\001\033[2J\033]0;owned\007 \300\257 token=abc123 end\n'
head -c 2000 /dev/urandom
printf '\n```\n<script>alert(1)</script>\n'
