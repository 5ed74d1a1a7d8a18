#!/bin/sh
echo "something went wrong"
exit 3
