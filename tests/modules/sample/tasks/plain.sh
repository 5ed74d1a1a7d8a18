#!/bin/sh
echo "plain text output"
echo "second line"
