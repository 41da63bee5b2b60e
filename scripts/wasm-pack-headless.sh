#!/usr/bin/env bash
# Runs one `wasm-pack test --headless --chrome` suite, retrying it when headless Chromium
# never loads the test page.
#
#   scripts/wasm-pack-headless.sh DIR [wasm-pack test args...]
#
# The runner is wasm-bindgen-cli built with vendor/tiny_http (scripts/wasm-bindgen-runner.sh):
# with the plain one, one page in six to one in three on this 2-core machine never loaded. Its page
# server (tiny_http) queued one of Chromium's connections where no thread would take it, so
# a module of the page stayed unanswered and the runner waited out its whole timeout (300 s):
# "Failed to detect test as having been run", "Timed out receiving message from renderer"
# (vendor/tiny_http/README.md has the evidence and the fix).
#
# The retry stays as a net for a page that still never loads: it is only taken when a test
# binary printed no "running N tests" line within LOAD_LIMIT seconds of the runner starting
# Chromium for it, that is when not one of its tests ran: a test that ran and failed (or
# hung) is never retried.
set -uo pipefail
dir=$1
shift
runner_bin=$("$(dirname "$0")/wasm-bindgen-runner.sh") || exit 1
export PATH="$runner_bin:$PATH"
LOAD_LIMIT=${WASM_PAGE_LOAD_LIMIT:-120}
ATTEMPTS=3

# every process under $1, deepest first (Chromium's are chromedriver's children)
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

for attempt in $(seq 1 $ATTEMPTS); do
  log=$(mktemp /tmp/wasm-suite.XXXXXX)
  wasm-pack test --headless --chrome "$dir" "$@" > >(tee "$log") 2>&1 &
  pid=$!
  waiting_since="" seen=0 stuck=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    # one "Running headless tests in" per test binary, then its "running N tests" once the
    # page has loaded the suite: more of the first than of the second means a page loading
    pages=$(grep -c '^Running headless tests in' "$log")
    loaded=$(grep -cE '^running [0-9]+ tests?$' "$log")
    if ((pages > loaded)); then
      if ((pages != seen)); then waiting_since=$SECONDS seen=$pages; fi
      if ((SECONDS - waiting_since > LOAD_LIMIT)); then
        stuck=1
        break
      fi
    fi
  done
  if ((stuck)); then
    echo "wasm-pack-headless: Chromium has not loaded the suite's page in ${LOAD_LIMIT} s (attempt $attempt of $ATTEMPTS): stopping it" >&2
    kill -KILL $(descendants "$pid") "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
    continue
  fi
  wait "$pid"
  status=$?
  rm -f "$log"
  exit "$status"
done
echo "wasm-pack-headless: Chromium never loaded the suite's page in $ATTEMPTS attempts" >&2
exit 1
