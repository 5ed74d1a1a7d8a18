#!/bin/sh
echo '{"_error": {"kind": "sample/broken", "msg": "the widget is broken", "details": {"widget": 7}}}'
exit 1
