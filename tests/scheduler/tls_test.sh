#!/usr/bin/env bash
# accelsched-extender over TLS: serves HTTPS with --tls-cert/--tls-key, and with --client-ca
# accepts only clients that present a certificate signed by that CA. Uses the openssl CLI (Debian
# package openssl, which ca-certificates depends on) as the client.
# Usage: tls_test.sh <accelsched-extender> <demo cluster file>
set -u
EXT="$1"
CLUSTER="$2"
TMP="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$TMP/log" ] && cat "$TMP/log"; exit 1; }
cd "$TMP"
q() { "$@" >/dev/null 2>&1 || fail "$*"; }
# A CA, a server certificate for 127.0.0.1, and a client certificate, all signed by the CA.
q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout ca.key -out ca.crt
q openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.crt
q openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-scheduler" -keyout client.key -out client.csr
q openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out client.crt

start() {  # start <extra flags...>: sets PID and PORT
  "$EXT" --cluster "$CLUSTER" --port 0 --bind-address 127.0.0.1 --tls-cert server.crt \
    --tls-key server.key "$@" >log 2>&1 &
  PID=$!
  PORT=""
  for _ in $(seq 100); do
    PORT="$(grep -o 'serving https://127.0.0.1:[0-9]*' log | grep -o '[0-9]*$' || true)"
    [ -n "$PORT" ] && return
    kill -0 "$PID" 2>/dev/null || fail "extender exited"
    sleep 0.1
  done
  fail "extender did not start"
}
get() {  # get <openssl s_client flags...>: GET /readyz over TLS, prints the response
  printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.crt -verify_return_error \
      -quiet "$@" 2>/dev/null
}

start
get | grep -q "^ok" || fail "HTTPS /readyz did not answer ok"
kill "$PID"; wait "$PID" 2>/dev/null; PID=""

start --client-ca ca.crt
get | grep -q "^ok" && fail "a client without a certificate was served"
get -cert client.crt -key client.key | grep -q "^ok" || fail "a client with a CA-signed certificate was refused"
kill "$PID"; wait "$PID" 2>/dev/null; PID=""

# Bad TLS files are a start-up error naming the file.
"$EXT" --cluster "$CLUSTER" --port 0 --tls-cert nope.crt --tls-key server.key >log 2>&1
[ $? = 1 ] || fail "missing certificate: want exit 1"
grep -q "nope.crt" log || fail "missing certificate not named"
"$EXT" --cluster "$CLUSTER" --port 0 --client-ca ca.crt >log 2>&1
[ $? = 1 ] || fail "--client-ca without a certificate: want exit 1"
echo PASS
