#!/bin/sh
# A report whose text tries to break out of the note's Markdown, smuggle HTML and links,
# and leak secrets the node did not mask; plus a 300 kB section. Valid JSON, as a task prints.
big=$(head -c 300000 /dev/zero | tr '\0' 'A')
ticks=$(head -c 50 /dev/zero | tr '\0' '`')
cat <<JSON
{"version": "x", "host": "evil\`host", "collected_at": "now",
 "findings": [{"severity": "critical", "code": "X\`Y", "message": "[click](javascript:alert(1)) <img src=x onerror=alert(1)> password=hunter2"}],
 "sections": [
  {"id": "a", "title": "</details><script>alert(1)</script>", "command": "$ticks", "truncated": false,
   "body": "$ticks\n# Heading?\n[x](javascript:alert(1))\n<script>alert(2)</script>\n~~~\nAuthorization: Bearer abc.def\n\u202eevil\u001b[31m api_key=sk_live_999"},
  {"id": "b", "title": "Big", "command": "yes", "truncated": false, "body": "$big"}
 ],
 "redactions": 0, "truncated": false}
JSON
