# procs.sh: sourced by the service helpers and the CLI tests that run a loopback server: free ports,
# waiting for a file a starting process writes, and stopping a process this test started, by its PID.

# free_port: a TCP port nobody listens on now (the kernel's choice for an ephemeral bind).
free_port() {
  "${PY:-/usr/bin/python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_file FILE SECONDS: 0 once FILE exists (-e, so a socket counts), checked every 0.1 s.
wait_file() {
  local i=0
  while [ ! -e "$1" ] && [ "$i" -lt $(( $2 * 10 )) ]; do sleep 0.1; i=$((i + 1)); done
  [ -e "$1" ]
}

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  local i=0
  while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$1" 2>/dev/null || true
}

# serve_py PORTFILE SCRIPT ARG...: runs "$PY" SCRIPT ARG... PORTFILE in the background (the script
# writes its port to its last argument), kills it on exit and waits up to 10 s for the port.
# Sets SERVER (its PID) and PORT; a server that never says its port ends the test as a failure.
serve_py() {
  local portfile=$1 i=0
  shift
  "${PY:-/usr/bin/python3}" "$@" "$portfile" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  while [ ! -s "$portfile" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -s "$portfile" ] || { echo "the test server did not start"; exit 1; }
  PORT=$(cat "$portfile")
}
