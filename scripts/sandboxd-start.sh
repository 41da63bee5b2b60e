#!/usr/bin/env bash
# Start sandboxd in the background for tests: `source scripts/sandboxd-start.sh BINARY`.
# Sets SANDBOXD_URL, SANDBOXD_PORT, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET and
# SANDBOXD_PID; the caller stops it (kill "$SANDBOXD_PID").
sandboxd_bin="${1:?usage: source scripts/sandboxd-start.sh BINARY [extra serve args]}"; shift
SANDBOXD_STATE=$(mktemp -d /tmp/sandboxd-test.XXXXXX)
SANDBOXD_TOKEN_ID=ak-test-$RANDOM; SANDBOXD_TOKEN_SECRET=as-test-$RANDOM$RANDOM
# made here, not by the background job's redirect, which may not have run yet when the
# loop below first reads the file
: >"$SANDBOXD_STATE.out"
"$sandboxd_bin" serve --listen 127.0.0.1:0 --state-dir "$SANDBOXD_STATE" \
  --token-id "$SANDBOXD_TOKEN_ID" --token-secret "$SANDBOXD_TOKEN_SECRET" "$@" \
  >"$SANDBOXD_STATE.out" 2>"$SANDBOXD_STATE.log" &
SANDBOXD_PID=$!
for _ in $(seq 1 100); do
  SANDBOXD_URL=$(sed -n 's/^sandboxd: listening on \(http:[^ ]*\).*/\1/p' "$SANDBOXD_STATE.out" || true)
  [ -n "$SANDBOXD_URL" ] && break
  kill -0 "$SANDBOXD_PID" 2>/dev/null || { cat "$SANDBOXD_STATE.log" >&2; echo "sandboxd did not start" >&2; return 1; }
  sleep 0.1
done
[ -n "$SANDBOXD_URL" ] || { echo "sandboxd did not report its address" >&2; return 1; }
SANDBOXD_PORT=${SANDBOXD_URL##*:}
export SANDBOXD_URL SANDBOXD_PORT SANDBOXD_TOKEN_ID SANDBOXD_TOKEN_SECRET SANDBOXD_PID SANDBOXD_STATE
echo "sandboxd (pid $SANDBOXD_PID) at $SANDBOXD_URL, log $SANDBOXD_STATE.log"
