#!/usr/bin/env python3
"""The layers of README.md's "Layout", checked on the includes (the compiler cannot: every header
of the tree and of /usr/include is reachable from every target).

- topology/ includes nothing of ours but topology/; plugins/ only topology/ and plugins/.
- scheduler/<folder> includes only the scheduler folders below it (ALLOWED).
- Only scheduler/codec includes nlohmann/json, simdjson or yaml-cpp, or the codec's JSON headers
  (codec/json.h, codec/json_util.h, codec/yaml.h); tests and bench may.
- Only scheduler/kube/client.cc includes httplib.h (the API client); the server is our own
  (scheduler/http/event_server.cc), the only file with OpenSSL's server side and epoll.
- scheduler/node (accelsched-node) includes only node/, kube/ and codec/ of the scheduler, never
  the extender's service; only node/plugin_server.cc includes gRPC, protobuf or the generated
  device-plugin API.

Usage: layering_check.py SOURCE_ROOT. Prints every violation; exit 1 if any.
"""
import os
import re
import sys

ALLOWED = {
    "codec": {"codec"},
    "state": {"state", "codec"},
    "gang": {"gang", "state", "codec"},
    "service": {"service", "gang", "state", "codec"},
    "http": {"http", "service", "gang", "state", "codec"},
    "kube": {"kube", "codec"},
    "sync": {"sync", "kube", "service", "gang", "state", "codec"},
    "node": {"node", "kube", "codec"},
    "cmd": {"cmd", "http", "sync", "node", "kube", "service", "gang", "state", "codec"},
}
JSON_HEADERS = ("nlohmann/", "simdjson", "yaml-cpp/", "scheduler/codec/json.h",
                "scheduler/codec/json_util.h", "scheduler/codec/yaml.h")
HTTPLIB_USERS = {"scheduler/kube/client.cc"}
# gRPC and the generated device-plugin API: only the plugin server (scheduler/node/).
GRPC_HEADERS = ("grpcpp/", "grpc/", "google/protobuf/", "scheduler/node/deviceplugin.")
GRPC_USERS = {"scheduler/node/plugin_server.cc"}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def violations(root):
    for top in ("topology", "plugins", "scheduler"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.relpath(os.path.join(folder, name), root)
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m:
                            why = check(path, m.group(1))
                            if why:
                                yield f"{path}:{number}: includes {m.group(1)}: {why}"


def check(path, header):
    parts = path.split("/")
    if parts[0] == "topology" and header.startswith(("plugins/", "scheduler/")):
        return "topology/ depends on nothing of ours"
    if parts[0] == "plugins" and header.startswith("scheduler/"):
        return "plugins/ depends only on topology/"
    if parts[0] != "scheduler":
        return None
    layer = parts[1] if len(parts) > 2 else "(top)"
    if layer not in ALLOWED:
        return f"scheduler/{layer} is not a known layer (add it to ALLOWED and README.md)"
    if header.startswith(JSON_HEADERS) and layer != "codec":
        return "only scheduler/codec sees JSON"
    if header == "httplib.h" and path not in HTTPLIB_USERS:
        return "only kube/client.cc includes httplib.h"
    if header.startswith(GRPC_HEADERS) and path not in GRPC_USERS:
        return "only node/plugin_server.cc sees gRPC and the generated API"
    if header.startswith("scheduler/"):
        target = header.split("/")[1]
        if target not in ALLOWED[layer]:
            return f"scheduler/{layer} may include only {sorted(ALLOWED[layer])}"
    return None


def main():
    found = list(violations(sys.argv[1]))
    for v in found:
        print(v)
    print(f"{len(found)} layering violation(s)" if found else "layering: clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
