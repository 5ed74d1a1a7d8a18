#!/bin/sh
printf 'start \377\376 \300\257 end\n'
echo "wrote latin-1 by mistake" >&2
