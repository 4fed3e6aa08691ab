#!/usr/bin/env python3
"""clang-tidy over source files, skipping those whose result cannot have changed (make lint).

A file's verdict depends only on what clang-tidy reads: the file and every header it includes,
the compile command, the .clang-tidy files and clang-tidy itself. The key of a clean result is a
SHA-256 over all of them (the includes from the build tree's ninja dependency log); a clean file
leaves an empty marker named by its key in the cache directory, and a later run with the same key
skips it. Files with findings never leave a marker. Without ninja's log (another generator, or a
file not compiled in that tree) the file is always checked. The build tree must be built (make
lint builds it first): the log then lists what each file includes now.

usage: clang_tidy_cached.py BUILD_DIR JOBS CACHE_DIR FILE...
Exit status 0 when every file is clean; clang-tidy's output for the others is printed.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys


def ninja_deps(build: str) -> dict[str, list[str]]:
    """Object file (relative to `build`) -> the files its compilation read."""
    try:
        out = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    deps: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if line and not line[0].isspace():
            m = re.match(r"(.+): #deps \d+, deps mtime \d+ \((\w+)\)", line)
            current = m.group(1) if m and m.group(2) == "VALID" else None
            if current:
                deps[current] = []
        elif current and line.strip():
            deps[current].append(line.strip())
    return deps


def compile_commands(build: str) -> dict[str, tuple[str, str]]:
    """Absolute source path -> (its compile command, its object file relative to `build`)."""
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    out = {}
    for e in entries:
        argv = shlex.split(e["command"])
        obj = argv[argv.index("-o") + 1] if "-o" in argv else ""
        out[os.path.realpath(os.path.join(e["directory"], e["file"]))] = (e["command"], obj)
    return out


class Hasher:
    def __init__(self) -> None:
        self.memo: dict[str, bytes] = {}

    def file(self, path: str) -> bytes:
        if path not in self.memo:
            try:
                with open(path, "rb") as f:
                    self.memo[path] = hashlib.sha256(f.read()).digest()
            except OSError:
                self.memo[path] = b"missing"
        return self.memo[path]


def key_of(source: str, commands, deps, hasher: Hasher, common: bytes) -> str | None:
    command, obj = commands.get(os.path.realpath(source), ("", ""))
    read = deps.get(obj)
    if not command or read is None:
        return None
    h = hashlib.sha256(common)
    h.update(command.encode())
    h.update(hasher.file(source))
    for dep in read:
        h.update(dep.encode())
        h.update(hasher.file(dep if os.path.isabs(dep) else os.path.join(build, dep)))
    # The .clang-tidy that applies to this file (tests/ has its own on top of the root's).
    d = os.path.dirname(os.path.abspath(source))
    while True:
        cfg = os.path.join(d, ".clang-tidy")
        if os.path.isfile(cfg):
            h.update(cfg.encode())
            h.update(hasher.file(cfg))
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return h.hexdigest()


def tidy(build: str, source: str) -> tuple[int, str]:
    p = subprocess.run(["clang-tidy", "-p", build, "--quiet", source], capture_output=True,
                       text=True)
    lines = [l for l in (p.stdout + p.stderr).splitlines()
             if not re.fullmatch(r"\d+ warnings? generated\.", l)]
    return p.returncode, "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    build, jobs, cache = argv[1], int(argv[2]), argv[3]
    sources = argv[4:]
    os.makedirs(cache, exist_ok=True)
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True, text=True).stdout
    common = version.encode()
    commands, deps, hasher = compile_commands(build), ninja_deps(build), Hasher()
    todo, cached = [], 0
    for s in sources:
        k = key_of(s, commands, deps, hasher, common)
        if k and os.path.exists(os.path.join(cache, k)):
            cached += 1
        else:
            todo.append((s, k))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for (s, k), (code, text) in zip(todo, pool.map(lambda t: tidy(build, t[0]), todo)):
            if text:
                print(text)
            if code != 0:
                failed += 1
            elif k:
                open(os.path.join(cache, k), "w").close()
    print(f"lint: {len(todo)} files checked, {cached} unchanged since a clean check"
          + (f", {failed} with findings" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
