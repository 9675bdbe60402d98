#!/bin/sh
# House-style checks CI runs (STYLE.md §5): no strcpy, strcat, sprintf,
# strtok, atoi and friends in C sources — use the bounded helpers.
set -eu
cd "$(dirname "$0")/.."
if grep -rnE "(^|[^a-z_0-9])(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|atoll|gets)\(" \
	src fuzz tests/unit --include='*.c' --include='*.h'; then
	echo "lint: banned function (see STYLE.md §5)" >&2
	exit 1
fi
echo "lint: ok"
