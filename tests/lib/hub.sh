# hub.sh: sourced by the model pull tests: starts the test's own server.py (a Hub on loopback,
# built on tests/lib/hub_server.py) over a folder, its requests logged to $LOG, and points
# HF_ENDPOINT at it; the server is stopped by PID on exit (procs.sh's serve_py).

. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

# hub_serve ROOT: sets LOG (emptied), SERVER, PORT and HF_ENDPOINT.
hub_serve() {
  export LOG=$PWD/requests.log
  : > "$LOG"
  serve_py port.txt server.py "$1"
  export HF_ENDPOINT=http://127.0.0.1:$PORT
}
