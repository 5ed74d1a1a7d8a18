#!/bin/sh
head -c 200000 /dev/zero | tr '\0' 'x'
