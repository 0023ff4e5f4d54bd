# nginx.sh: sourced by tests: serves a directory from Debian's nginx on free loopback ports, plain
# HTTP and HTTPS (a self-signed certificate made here), logging each request's Range header and
# bytes sent; nginx_stop ends the master it started, by PID. nginx_start returns non-zero with
# NGINX_SKIP set to the reason when it cannot start.

. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"
NGINX_PID=""
NGINX_SKIP=""

# nginx_start ROOT DIR: serves ROOT; config, certificate, logs under DIR. Sets NGINX_PORT,
# NGINX_TLS_PORT, NGINX_CERT (the CA bundle a client needs) and NGINX_LOG (the access log:
# "METHOD URI STATUS RANGE BYTES" per line, RANGE "-" when absent).
nginx_start() {
  local root=$1 d=$2
  command -v nginx >/dev/null || { NGINX_SKIP="nginx is not installed (scripts/install-deps.sh)"; return 1; }
  command -v openssl >/dev/null || { NGINX_SKIP="openssl is not installed"; return 1; }
  mkdir -p "$d/tmp" || return 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$d/key.pem" -out "$d/cert.pem" 2>"$d/openssl.err" ||
    { NGINX_SKIP="openssl could not make a certificate: $(tail -n 1 "$d/openssl.err")"; return 1; }
  NGINX_PORT=$(free_port); NGINX_TLS_PORT=$(free_port)
  NGINX_CERT=$d/cert.pem NGINX_LOG=$d/access.log
  cat > "$d/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
  log_format ranges '\$request_method \$uri \$status \$http_range \$body_bytes_sent';
  access_log $NGINX_LOG ranges;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  types { application/json json; image/tiff tif; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    listen 127.0.0.1:$NGINX_TLS_PORT ssl;
    ssl_certificate $d/cert.pem;
    ssl_certificate_key $d/key.pem;
    root $root;
  }
}
CONF
  nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/nginx.out" 2>&1 &
  NGINX_PID=$!
  local i=0
  while [ "$i" -lt 100 ]; do
    if "${PY:-/usr/bin/python3}" -c "import socket,sys; socket.create_connection(('127.0.0.1', $NGINX_PORT), 1)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  NGINX_SKIP="nginx did not start: $(tail -n 3 "$d/error.log" "$d/nginx.out" 2>/dev/null | tr '\n' ' ')"
  nginx_stop
  return 1
}

nginx_stop() {
  [ -n "$NGINX_PID" ] || return 0
  stop_pid "$NGINX_PID"
  NGINX_PID=""
}
