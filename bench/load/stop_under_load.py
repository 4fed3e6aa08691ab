#!/usr/bin/env python3
"""SIGTERM under load: how many in-flight requests the extender cuts, and how long it takes to stop.

Starts accelsched-extender on a cluster file, drives it with CLIENTS keep-alive connections that
POST filter requests back to back, sends SIGTERM after WARMUP seconds, and classifies every
request by what happened to it:
  ok       answered 200
  cut      sent whole, then the connection closed or reset without an answer (in flight, lost)
  unsent   the connection was gone before the request was written (the client knows nothing
           was processed and may retry; Go's client does so on its own)
  refused  a new connection was refused (the listener is closed: the client goes elsewhere)
Prints the counts and the time from SIGTERM to the process's exit.

Usage: stop_under_load.py EXTENDER CLUSTER_FILE [--clients 8] [--warmup 3] [--port 18891]
"""
import argparse
import http.client
import json
import signal
import subprocess
import sys
import threading
import time


def filter_body(nodes):
    pod = {"metadata": {"name": "probe", "namespace": "default", "uid": "probe-uid"},
           "spec": {"containers": [{"name": "c", "resources": {
               "limits": {"nvidia.com/gpu": 1, "cpu": "1"}}}]}}
    return json.dumps({"Pod": pod, "NodeNames": nodes}).encode()


def node_names(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/debug/state")
    state = json.loads(c.getresponse().read())
    return [n["name"] for n in state["nodes"]][:200]


def client(port, body, stop, counts, lock):
    conn = None
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.connect()
            except OSError:
                with lock:
                    counts["refused"] += 1
                conn = None
                time.sleep(0.01)
                continue
        try:
            conn.request("POST", "/v1/extender/filter", body,
                         {"Content-Type": "application/json"})
        except OSError:
            with lock:
                counts["unsent"] += 1
            conn.close()
            conn = None
            continue
        try:
            r = conn.getresponse()
            r.read()
            with lock:
                counts["ok" if r.status == 200 else "error"] += 1
            if r.will_close:
                conn.close()
                conn = None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                http.client.BadStatusLine, TimeoutError, OSError):
            with lock:
                counts["cut"] += 1
            conn.close()
            conn = None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("extender")
    p.add_argument("cluster")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--port", type=int, default=18891)
    a = p.parse_args()
    ext = subprocess.Popen([a.extender, "--cluster", a.cluster, "--port", str(a.port),
                            "--bind-address", "127.0.0.1", "--log-level", "warn"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    body = filter_body(node_names(a.port))
    counts = {"ok": 0, "cut": 0, "unsent": 0, "refused": 0, "error": 0}
    lock = threading.Lock()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(a.port, body, stop, counts, lock))
               for _ in range(a.clients)]
    for t in threads:
        t.start()
    time.sleep(a.warmup)
    with lock:
        before = dict(counts)
    start = time.monotonic()
    ext.send_signal(signal.SIGTERM)
    code = ext.wait(timeout=30)
    stopped = time.monotonic() - start
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    print(f"clients {a.clients}: before SIGTERM {before['ok']} ok; in all: " +
          ", ".join(f"{k} {v}" for k, v in counts.items()) +
          f"; exit code {code} after {stopped * 1000:.0f} ms")
    return 0 if counts["cut"] == 0 and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
