#!/usr/bin/env python3
"""Latency of `availsync-setup hook`, the edit hook, as Claude Code runs it.

Starts a release availsync-server on a fresh SQLite directory, signs up,
creates an enforcing agent, makes a git repository with an `origin`
remote, then runs the real `availsync-setup hook` binary once per edit,
fed Claude Code's documented PreToolUse JSON on stdin, and times each
process from spawn to exit (what Claude Code waits for).

Usage (from the workspace root, after
`cargo build --release -p availsync-setup -p availsync-server`):

    python3 bench/hook-latency.py [--target target] [--runs 200]

Cases, each `--runs` edits:
  outside   a file outside any git repository (no server call)
  held      the session edits a file it already holds (1 call: extend)
  new       the session edits a new file each time (2 calls: add it to
            the working set, extend; the first edit: check + start)
  blocked   a second session edits a file the first holds (1 call: check)
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, path, body, cookie=None):
    """POSTs JSON; answers (body, session cookie). The session cookie is
    `Secure`, which urllib's cookie jar will not send over http, so it is
    carried by hand."""
    headers = {"Content-Type": "application/json", "Origin": url}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        set_cookie = answer.headers.get("Set-Cookie", "")
        return json.load(answer), set_cookie.split(";", 1)[0] or cookie


def wait_healthy(url, server):
    for _ in range(300):
        if server.poll() is not None:
            sys.exit(f"the server exited: {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit("the server did not answer /health")


def event(session, file):
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": f"/tmp/{session}.jsonl",
            "cwd": os.path.dirname(file),
            "permission_mode": "default",
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {
                "file_path": file,
                "old_string": "fn",
                "new_string": "pub fn",
                "replace_all": False,
            },
            "tool_use_id": "toolu_01ABC123",
        }
    ).encode()


def time_hook(binary, env, payload, expect):
    start = time.perf_counter()
    done = subprocess.run(
        [binary, "hook"], input=payload, env=env, capture_output=True
    )
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != expect:
        sys.exit(
            f"hook exited {done.returncode}, expected {expect}: {done.stderr.decode()}"
        )
    return elapsed


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    hook = os.path.join(args.target, "release", "availsync-setup")
    server_bin = os.path.join(args.target, "release", "availsync-server")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [server_bin, "serve", "--listen", f"127.0.0.1:{port}",
             "--data-dir", os.path.join(tmp, "data")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(url, server)
            _, cookie = post(url, "/v1/auth/signup",
                             {"email": "bench@example.com", "password": "correct horse battery",
                              "workspace_name": "Bench"})
            agent, _ = post(url, "/v1/agents", {"name": "hook-bench", "mode": "enforce"}, cookie)
            key = agent["api_key"]

            repo = os.path.join(tmp, "web")
            os.makedirs(os.path.join(repo, "src"))
            subprocess.run(["git", "init", "-q", repo], check=True)
            subprocess.run(["git", "-C", repo, "remote", "add", "origin",
                            "git@github.com:acme/web.git"], check=True)
            outside = os.path.join(tmp, "loose", "notes.txt")
            os.makedirs(os.path.dirname(outside))

            home = os.path.join(tmp, "home")
            os.makedirs(home)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": home,
                "XDG_STATE_HOME": os.path.join(tmp, "state"),
                "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
                "AVAILSYNC_URL": url,
                "AVAILSYNC_API_KEY": key,
            }
            s1 = "2f0c7a52-7d4e-4c1f-9d0a-5b1e3c8f1a01"
            s2 = "9b4e1d33-0a6f-4e2b-8c7d-1f2e3d4c5b02"
            held = os.path.join(repo, "src", "held.rs")
            runs = args.runs
            # The new-file case stays under the working set's 200 paths.
            new_runs = min(runs, 190)

            cases = {}
            cases["outside"] = [time_hook(hook, env, event(s1, outside), 0) for _ in range(runs)]
            cases["new"] = [
                time_hook(hook, env, event(s1, os.path.join(repo, "src", f"f{i}.rs")), 0)
                for i in range(new_runs)
            ]
            time_hook(hook, env, event(s1, held), 0)
            cases["held"] = [time_hook(hook, env, event(s1, held), 0) for _ in range(runs)]
            cases["blocked"] = [time_hook(hook, env, event(s2, held), 2) for _ in range(runs)]
        finally:
            server.terminate()
            server.wait()

    print(f"| case | runs | p50 ms | p99 ms | max ms |")
    print(f"| --- | ---: | ---: | ---: | ---: |")
    for name, values in cases.items():
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
              f"{percentile(values, 99):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    main()
