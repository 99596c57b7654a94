#!/usr/bin/env bash
# SCoP's one test command: installs what the tests need, runs the
# matrix-js-sdk smoke test against a freshly started `scop serve`,
# then vets and tests every package. CI runs it through .ci/run with CI=true.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

# Debian packages the tests use (tests skip without them, unless CI=true):
# swaks and postfix (smtp-source, sendmail) drive the SMTP receiver,
# python3-dkim (dkimsign) signs mail for DKIM interop, unbound checks the
# DNSSEC resolver against a real one.
apt_packages=(swaks postfix python3-dkim unbound)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node and npm for the matrix-js-sdk smoke test, however they were installed
# (its run.sh fetches Node 22 through npm when the system one is older).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The smoke test runs first: its run.sh installs matrix-js-sdk and Node 22
# into its cache folder, where the conformance suite's sliding sync tests
# (sytest/slidingsync_test.go) find them.
echo "== smoke test: matrix-js-sdk against scop serve"
jsclient=${JSCLIENT:-$root/../shared/tools/jsclient/run.sh}
if [ ! -x "$jsclient" ]; then
  echo "jsclient not found at $jsclient (set JSCLIENT)" >&2
  exit 1
fi
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/scop" ./cmd/scop
data="$work/data"
"$work/scop" serve --data "$data" --listen 127.0.0.1:0 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
  [ -f "$data/listen.json" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "scop serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -f "$data/listen.json" ] || { cat "$work/server.log" >&2; echo "scop serve did not start" >&2; exit 1; }
addr=$(sed -n 's/.*"client":"\([^"]*\)".*/\1/p' "$data/listen.json")

password="smoke-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" | "$work/scop" user add smoke --data "$data" >/dev/null

out="$work/jsclient.out"
if ! HS_URL="http://$addr" MX_USER=smoke MX_PASS="$password" "$jsclient" 2>&1 | tee "$out"; then
  echo "--- server log" >&2; tail -50 "$work/server.log" >&2
  exit 1
fi
grep -q '^RESULT: OK' "$out" || { echo "--- server log" >&2; tail -50 "$work/server.log" >&2; exit 1; }
cleanup
server_pid=""
trap - EXIT

echo "== go vet"
go vet ./...

echo "== go test"
go test -timeout 15m ./...
# End-to-end encryption in ci-notify needs mautrix's pure Go olm (goolm
# build tag, no cgo); its test has a second device decrypt the bot's post.
CGO_ENABLED=0 go test -timeout 5m -tags goolm ./ci-notify/...
# go test shows a passing package's output only with -v: print the
# conformance suite's per-area summary it wrote.
[ -f sytest/last-summary.txt ] && cat sytest/last-summary.txt

echo "== all tests passed"
