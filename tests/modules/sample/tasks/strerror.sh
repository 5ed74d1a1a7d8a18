#!/bin/sh
echo '{"_error": "disk full on /var: cannot write the report"}'
exit 1
