# shellcheck shell=bash
# Shared by the test scripts (source it): logging, a free loopback port, and waiting for a
# server started in the background to answer over HTTP.

log() { printf '==> %s\n' "$*" >&2; }

# Prints a loopback port that is free right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until_answers NAME PID URL LOG [TRIES]: waits until URL answers, checking every 0.2 s
# up to TRIES times (default 150, i.e. 30 s), failing with LOG's contents if process PID exits
# first or URL never answers.
wait_until_answers() {
  local name=$1 pid=$2 url=$3 server_log=$4 tries=${5:-150}
  answers() {
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "$url" >/dev/null 2>&1
  }
  for _ in $(seq 1 "$tries"); do
    if answers; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name did not start:"; cat "$server_log" >&2; exit 1
    fi
    sleep 0.2
  done
  answers || { log "$name is not answering on $url"; cat "$server_log" >&2; exit 1; }
}
