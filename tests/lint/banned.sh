#!/usr/bin/env bash
# Fails when a C source uses a function twotime bans (git's banned.h idea):
# strcpy/strcat/sprintf/vsprintf overflow, strtok keeps hidden state, atoi and
# atol cannot report errors, gets cannot be used safely.
set -u
top=${1:-.}
cd "$top" || exit 2
hits=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/lint/' |
    xargs -r grep -nE '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)[[:space:]]*\(' |
    grep -vE '\b(snprintf|vsnprintf|strtok_r)\b' || true)
if [ -n "$hits" ]; then
    echo "banned functions used:"
    echo "$hits"
    exit 1
fi
echo "no banned functions"
