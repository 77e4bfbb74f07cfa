# Sourced by the benchmarks: start_nginx WORK BODY_FILE starts nginx on a free loopback port
# serving BODY_FILE as /items.json, sets $port and appends its pid to the caller's pids
# array (the caller's EXIT trap kills them). Fails when nginx does not serve the file.
start_nginx() {
  local work=$1 body=$2
  # a free loopback port, so a leftover server can never answer in our place
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/www" "$work/nginx"
  chmod 755 "$work" "$work/www"   # nginx workers drop privileges and must read the file
  cp "$body" "$work/www/items.json"
  chmod 644 "$work/www/items.json"
  cat > "$work/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; root $work/www; default_type application/json; }
}
NGX
  nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)
  sleep 0.3
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "nginx did not start" >&2; return 1; }
  local size
  size=$(stat -c %s "$body")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/items.json" >/dev/null && break; sleep 0.1; done
  [ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/items.json")" = "200 $size" ] ||
    { echo "nginx does not serve $body" >&2; return 1; }
}
