#!/usr/bin/env python3
"""availsync-mcp driven by a client nobody here wrote: the official Python MCP
SDK (`pip install mcp`), over stdio.

It starts the built `availsync-server serve` (plain HTTP, a temporary data
directory, a free port), signs up and creates agents over HTTP with the
standard library, then spawns the built `availsync-mcp` through
`mcp.client.stdio.stdio_client` and checks what the model would be told:
PROCEED, SKIP naming the holder, the lease outliving its TTL, its release
when the first session closes, holds, failing closed (STOP), INVALID
arguments, and LEASE LOST on the next call after the server was paused
(SIGSTOP) past the lease's TTL and resumed. Two tests speak the stateless
2026-07-28 revision (`mcp.Client` in `mode="auto"`, which asks
`server/discover`, and pinned to "2026-07-28", which sends its version and
capabilities in every request's `_meta`): the same tools, and the same
answers. The SDK also validates every
non-error result's structured content against the tool's output schema;
errors carry none (their code is in `_meta["availsync/error"]`).

Usage: test_stdio.py [--server PATH] [--mcp PATH]   (defaults: target/debug)
Prints one line per test and a closing "N passed, N failed"; exits 1 on any
failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
TOOLS = {
    "start_run",
    "claim_paths",
    "list_rules",
    "extend_run",
    "finish_run",
    "list_runs",
    "check_availability",
    "check_conflicts",
    "create_hold",
    "release_hold",
    "usage",
}
# The flow waits 25 s on a 10 s lease; the Rust suite does that. Here,
# past the TTL is what matters.
OUTLIVE_SECONDS = float(os.environ.get("AVAILSYNC_PY_OUTLIVE_SECONDS", "15"))


def field(obj, snake: str, camel: str):
    """A result field under the SDK's 2.x (snake_case) or 1.x (camelCase) name."""
    return getattr(obj, snake, None) if hasattr(obj, snake) else getattr(obj, camel, None)


class Answer:
    """One tool call's answer: the text (news lines, then the answer's own
    line), the structured content, isError and the error's `_meta`."""

    def __init__(self, result) -> None:
        texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
        assert len(texts) == 1, f"exactly one text content: {result}"
        self.text: str = texts[0]
        self.lines: list[str] = self.text.split("\n")
        self.is_error: bool = bool(field(result, "is_error", "isError"))
        self.data = field(result, "structured_content", "structuredContent")
        meta = field(result, "meta", "_meta") or {}
        self.error = meta.get("availsync/error")
        if self.is_error:
            assert self.data is None, f"an error carries no structured content: {result}"
            assert self.error and self.error.get("code"), f"an error names its code in _meta: {result}"
        else:
            assert isinstance(self.data, dict), f"structured content: {result}"

    @property
    def verdict(self) -> str:
        """The first word(s) of the answer's own line (after any news)."""
        return self.lines[-1].split(":", 1)[0]

    def __repr__(self) -> str:
        return f"Answer({self.text!r}, error={self.is_error})"


class Server:
    """The built availsync-server on a free port with a temporary data dir."""

    def __init__(self, binary: Path) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="availsync-py-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(Path(self.dir.name) / "server.log", "w")
        self.process = subprocess.Popen(
            [
                str(binary),
                "serve",
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(Path(self.dir.name) / "data"),
                "--insecure-http",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if json.load(r).get("status") == "ok":
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"availsync-server did not start; see {self.log.name}")
            time.sleep(0.05)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def workspace(self) -> "Workspace":
        """A new signed-up workspace (the free plan allows 3 agents each)."""
        return Workspace(self.url)

    def stop(self) -> None:
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.dir.cleanup()


class Workspace:
    """A signed-up workspace; its human session cookie creates agents."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookie = ""
        email = f"py-{os.getpid()}-{time.time_ns()}@example.com"
        self.request(
            "POST",
            "/v1/auth/signup",
            {"email": email, "password": "correct horse battery", "workspace_name": "Python MCP test"},
        )
        assert self.cookie, "signup set the availsync_session cookie"

    def request(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        with urllib.request.urlopen(req, timeout=10) as r:
            for header in r.headers.get_all("Set-Cookie") or []:
                if header.startswith("availsync_session="):
                    self.cookie = header.split(";", 1)[0]
            return json.load(r)

    def agent(self, name: str, mode: str = "enforce") -> str:
        """A new agent's API key (shown once)."""
        return self.request("POST", "/v1/agents", {"name": name, "mode": mode})["api_key"]


class Session:
    """An MCP session with one availsync-mcp process."""

    def __init__(self, session: ClientSession, init, stderr_path: Path, key: str) -> None:
        self.session = session
        self.init = init
        self.stderr_path = stderr_path
        self.key = key

    async def call(self, tool: str, **arguments) -> Answer:
        result = await asyncio.wait_for(self.session.call_tool(tool, arguments), timeout=30)
        return Answer(result)


def server_parameters(binary: Path, url: str, key: str, workdir: Path, env: dict | None = None):
    """How to launch availsync-mcp for the agent `key` against `url`."""
    return StdioServerParameters(
        command=str(binary),
        args=[],
        env={
            "AVAILSYNC_URL": url,
            "AVAILSYNC_API_KEY": key,
            "AVAILSYNC_CREDENTIALS_FILE": str(workdir / "no-credentials.toml"),
            "RUST_LOG": "availsync_mcp=debug,warn",
            **(env or {}),
        },
    )


@contextlib.asynccontextmanager
async def mcp_session(binary: Path, url: str, key: str, workdir: Path, env: dict | None = None):
    """Spawns availsync-mcp via the SDK's stdio_client; on exit, the SDK closes
    its stdin and waits for it to exit. Checks the key never reached stderr."""
    stderr_path = workdir / f"mcp-{time.time_ns()}.stderr"
    params = server_parameters(binary, url, key, workdir, env)
    with open(stderr_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                init = await asyncio.wait_for(session.initialize(), timeout=10)
                yield Session(session, init, stderr_path, key)
    stderr = stderr_path.read_text()
    assert key not in stderr, "the API key leaked to stderr"


class ModernSession(Session):
    """A 2026-07-28 session: no initialize; `client` is the SDK's `Client`."""

    def __init__(self, client: Client, stderr_path: Path, key: str) -> None:
        super().__init__(client.session, None, stderr_path, key)
        self.client = client

    async def call(self, tool: str, **arguments) -> Answer:
        result = await asyncio.wait_for(self.client.call_tool(tool, arguments), timeout=30)
        return Answer(result)


@contextlib.asynccontextmanager
async def modern_session(binary: Path, url: str, key: str, workdir: Path, mode: str):
    """Like mcp_session, through `mcp.Client` with `mode` ("auto" or a
    2026-era version): no initialize handshake."""
    stderr_path = workdir / f"mcp-{time.time_ns()}.stderr"
    params = server_parameters(binary, url, key, workdir)
    with open(stderr_path, "w") as errlog:
        client = Client(stdio_client(params, errlog=errlog), mode=mode)
        async with asyncio.timeout(10):
            await client.__aenter__()
        try:
            yield ModernSession(client, stderr_path, key)
        finally:
            await client.__aexit__(None, None, None)
    stderr = stderr_path.read_text()
    assert key not in stderr, "the API key leaked to stderr"


def tool_listing(tools) -> dict:
    """Each tool's description and schemas, by name: what a model is shown."""
    return {
        t.name: (
            t.description,
            field(t, "input_schema", "inputSchema"),
            field(t, "output_schema", "outputSchema"),
            field(t, "annotations", "annotations"),
        )
        for t in tools
    }


def hours_from_now(hours: int) -> str:
    base = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return (base + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_initialize_lists_eleven_tools_with_schemas(ctx) -> None:
    key = ctx.server.workspace().agent("py-lister")
    async with mcp_session(ctx.mcp, ctx.server.url, key, ctx.workdir) as s:
        assert field(s.init, "server_info", "serverInfo").name == "availsync-mcp", s.init
        assert "start_run" in (s.init.instructions or ""), s.init
        listed = await s.session.list_tools()
        names = {t.name for t in listed.tools}
        assert names == TOOLS, names
        for tool in listed.tools:
            assert tool.description and len(tool.description) > 80, tool.name
            schema = field(tool, "input_schema", "inputSchema")
            assert schema["type"] == "object", tool.name
            output = field(tool, "output_schema", "outputSchema")
            assert output and output["type"] == "object", tool.name
            plain = json.dumps(schema)
            for banned in ('"$ref"', '"$defs"', '"oneOf"', '"anyOf"', '"uint32"', '"uint64"', '"null"'):
                assert banned not in plain, f"{tool.name}'s input schema has {banned}: {plain}"
        start = next(t for t in listed.tools if t.name == "start_run")
        assert field(start, "input_schema", "inputSchema")["required"] == ["resource"]
        ttl = field(start, "input_schema", "inputSchema")["properties"]["ttl_seconds"]
        assert ttl["type"] == "integer" and ttl["minimum"] == 10, ttl
        wait = field(start, "input_schema", "inputSchema")["properties"]["wait_seconds"]
        assert (wait["type"], wait["minimum"], wait["maximum"]) == ("integer", 0, 60), wait


async def test_skip_names_the_holder_the_lease_outlives_its_ttl_and_closing_releases_it(ctx) -> None:
    workspace = ctx.server.workspace()
    key_a = workspace.agent("py-claude")
    key_b = workspace.agent("py-ci-bot")
    repo = "repo:py/flow"
    async with mcp_session(ctx.mcp, ctx.server.url, key_b, ctx.workdir) as b:
        async with mcp_session(ctx.mcp, ctx.server.url, key_a, ctx.workdir) as a:
            claimed = await a.call("start_run", resource=repo, ttl_seconds=10, purpose="python flow")
            assert claimed.verdict == "PROCEED" and not claimed.is_error, claimed
            run_a = claimed.data["run_id"]
            assert run_a in claimed.text and "finish_run" in claimed.text, claimed
            assert claimed.data["lease"]["kept_alive"] is True

            skipped = await b.call("start_run", resource=repo)
            assert skipped.verdict == "SKIP" and not skipped.is_error, skipped
            assert "'py-claude'" in skipped.text and run_a in skipped.text, skipped
            assert skipped.data["holder"]["agent_name"] == "py-claude"

            started = time.monotonic()
            while time.monotonic() - started < OUTLIVE_SECONDS:
                await asyncio.sleep(5)
                again = await b.call("start_run", resource=repo)
                assert again.verdict == "SKIP", f"after {time.monotonic() - started:.1f} s: {again}"
                assert again.data["holder"]["run_id"] == run_a
            closing = time.monotonic()
        # a's session is closed: the SDK closed its stdin and saw it exit.
        released = None
        while time.monotonic() - closing < 2.0:
            if (await b.call("check_availability", resource=repo)).data["available"]:
                released = time.monotonic() - closing
                break
            await asyncio.sleep(0.05)
        assert released is not None, "not released within 2 s of closing the session"
        proceed = await b.call("start_run", resource=repo)
        assert proceed.verdict == "PROCEED", proceed
        finished = await b.call("finish_run", run_id=proceed.data["run_id"], outcome="succeeded")
        assert finished.verdict == "FINISHED" and finished.data["released"] is True, finished
        runs = await b.call("list_runs", status="all", resource=repo)
        old = next(r for r in runs.data["runs"] if r["run_id"] == run_a)
        assert old["status"] == "finished" and old["outcome"] == "cancelled", old
    print(f"      released {released * 1000:.0f} ms after the session closed")


async def test_holds_conflict_and_availability(ctx) -> None:
    workspace = ctx.server.workspace()
    key_a = workspace.agent("py-planner")
    key_b = workspace.agent("py-deployer")
    cal = "calendar:py-team"
    async with mcp_session(ctx.mcp, ctx.server.url, key_a, ctx.workdir) as a, mcp_session(
        ctx.mcp, ctx.server.url, key_b, ctx.workdir
    ) as b:
        held = await a.call("create_hold", resource=cal, start=hours_from_now(1), end=hours_from_now(2))
        assert held.verdict == "HELD" and held.data["created"] is True, held
        hold_id = held.data["hold"]["hold_id"]

        refused = await b.call("create_hold", resource=cal, start=hours_from_now(1), end=hours_from_now(3))
        assert refused.verdict == "NOT HELD" and not refused.is_error, refused
        assert refused.data["conflicts"][0]["holder"]["name"] == "py-planner", refused.data

        conflict = await b.call("check_conflicts", resource=cal, start=hours_from_now(0), end=hours_from_now(3))
        assert conflict.verdict == "CONFLICT" and hold_id in conflict.text, conflict

        window = await b.call("check_availability", resource=cal, **{"from": hours_from_now(0), "to": hours_from_now(4)})
        assert window.verdict == "PARTLY FREE", window
        assert len(window.data["busy"]) == 1 and len(window.data["free"]) == 2, window.data

        released = await a.call("release_hold", hold_id=hold_id)
        assert released.verdict == "RELEASED", released
        free = await b.call("check_conflicts", resource=cal, start=hours_from_now(1), end=hours_from_now(2))
        assert free.verdict == "NO CONFLICT", free


async def test_unreachable_server_is_a_tool_error_that_says_stop(ctx) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with mcp_session(ctx.mcp, dead, "avs_live_unused", ctx.workdir) as s:
        answer = await s.call("start_run", resource="repo:py/down")
        assert answer.is_error and answer.verdict == "STOP", answer
        assert "Do not go ahead" in answer.text, answer
        assert answer.error["code"] == "unreachable", answer.error
        listed = await s.session.list_tools()
        assert len(listed.tools) == len(TOOLS), "still serving after the failure"


async def test_invalid_arguments_are_an_invalid_read_as_text(ctx) -> None:
    key = ctx.server.workspace().agent("py-careless")
    async with mcp_session(ctx.mcp, ctx.server.url, key, ctx.workdir) as s:
        ttl = await s.call("start_run", resource="repo:py/x", ttl_seconds=5)
        assert ttl.is_error and ttl.verdict == "INVALID" and "ttl_seconds" in ttl.text, ttl
        resource = await s.call("start_run", resource="repo:not a repo")
        assert resource.is_error and resource.verdict == "INVALID", resource
        outcome = await s.call("finish_run", run_id="run-x", outcome="maybe")
        assert outcome.is_error and outcome.verdict == "INVALID", outcome
        missing = await s.call("finish_run", run_id="run-never-started", outcome="failed")
        assert missing.is_error and missing.verdict == "NOT FOUND", missing


async def test_a_lease_lost_while_the_server_was_paused_is_news_on_the_next_call(ctx) -> None:
    key = ctx.server.workspace().agent("py-paused")
    repo = "repo:py/paused"
    async with mcp_session(
        ctx.mcp, ctx.server.url, key, ctx.workdir, env={"AVAILSYNC_MCP_CALL_TIMEOUT": "3s"}
    ) as s:
        claimed = await s.call("start_run", resource=repo, ttl_seconds=10)
        assert claimed.verdict == "PROCEED", claimed
        run_id = claimed.data["run_id"]
        ctx.server.pause()
        try:
            await asyncio.sleep(13)  # past the 10 s TTL: no extend gets through
        finally:
            ctx.server.resume()
        after = await s.call("list_runs", status="active")
        assert not after.is_error and after.verdict == "RUNS", after
        assert after.lines[0] == (
            f"LEASE LOST: you no longer hold {repo} (run {run_id}); stop editing it and tell the user. "
            "Why: no extend reached the Availsync server before it lapsed. Call start_run again before continuing."
        ), after
        again = await s.call("usage")
        assert "LEASE LOST" not in again.text, f"told once, not twice: {again}"
        finished = await s.call("finish_run", run_id=run_id, outcome="succeeded")
        assert finished.is_error and finished.text.startswith(f"LEASE LOST: run {run_id} lost its lease on {repo}"), finished
        assert finished.error["code"] == "lease_lost", finished.error


async def test_a_2026_07_28_client_discovers_the_server_and_lists_the_same_tools(ctx) -> None:
    key = ctx.server.workspace().agent("py-modern-lister")
    async with mcp_session(ctx.mcp, ctx.server.url, key, ctx.workdir) as legacy:
        assert field(legacy.init, "protocol_version", "protocolVersion") == "2025-11-25", legacy.init
        legacy_tools = tool_listing((await legacy.session.list_tools()).tools)
    # "auto" asks server/discover and, answered, stays on 2026-07-28.
    async with modern_session(ctx.mcp, ctx.server.url, key, ctx.workdir, "auto") as s:
        assert s.client.protocol_version == "2026-07-28", s.client.protocol_version
        discovered = s.session.discover_result
        assert discovered is not None, "no server/discover answer"
        assert "2026-07-28" in discovered.supported_versions, discovered
        assert "2025-11-25" in discovered.supported_versions, discovered
        assert s.client.server_info is not None and s.client.server_info.name == "availsync-mcp"
        assert "start_run" in (s.client.instructions or ""), s.client.instructions
        assert s.client.server_capabilities.tools is not None
        modern_tools = tool_listing((await s.client.list_tools()).tools)
        assert set(modern_tools) == TOOLS, set(modern_tools)
        assert modern_tools == legacy_tools, "the tools differ between the two revisions"
        used = await s.call("usage")
        assert not used.is_error and used.verdict == "USAGE", used


async def test_a_2026_07_28_client_claims_skips_and_finishes(ctx) -> None:
    workspace = ctx.server.workspace()
    key_a = workspace.agent("py-modern-a")
    key_b = workspace.agent("py-modern-b")
    repo = "repo:py/modern"
    # Pinned: no probe; every request carries the version and capabilities in _meta.
    async with modern_session(ctx.mcp, ctx.server.url, key_a, ctx.workdir, "2026-07-28") as a:
        assert a.client.protocol_version == "2026-07-28"
        async with mcp_session(ctx.mcp, ctx.server.url, key_b, ctx.workdir) as b:
            claimed = await a.call("start_run", resource=repo, ttl_seconds=10, purpose="modern flow")
            assert claimed.verdict == "PROCEED" and not claimed.is_error, claimed
            run_a = claimed.data["run_id"]
            assert claimed.data["lease"]["kept_alive"] is True, claimed.data
            await asyncio.sleep(12)  # past the TTL: kept alive by the server process
            skipped = await b.call("start_run", resource=repo)
            assert skipped.verdict == "SKIP", skipped
            assert skipped.data["holder"]["run_id"] == run_a, skipped.data
            invalid = await a.call("start_run", resource="repo:not a repo")
            assert invalid.is_error and invalid.verdict == "INVALID", invalid
            active = await a.call("list_runs", status="active", resource=repo)
            mine = next(r for r in active.data["runs"] if r["run_id"] == run_a)
            assert mine["kept_alive_by_this_session"] is True, mine
            finished = await a.call("finish_run", run_id=run_a, outcome="succeeded")
            assert finished.verdict == "FINISHED" and finished.data["released"] is True, finished
            proceed = await b.call("start_run", resource=repo)
            assert proceed.verdict == "PROCEED", proceed
            await b.call("finish_run", run_id=proceed.data["run_id"], outcome="cancelled")


TESTS = [
    test_initialize_lists_eleven_tools_with_schemas,
    test_skip_names_the_holder_the_lease_outlives_its_ttl_and_closing_releases_it,
    test_holds_conflict_and_availability,
    test_unreachable_server_is_a_tool_error_that_says_stop,
    test_invalid_arguments_are_an_invalid_read_as_text,
    test_a_lease_lost_while_the_server_was_paused_is_news_on_the_next_call,
    test_a_2026_07_28_client_discovers_the_server_and_lists_the_same_tools,
    test_a_2026_07_28_client_claims_skips_and_finishes,
]


class Context:
    def __init__(self, server: Server, mcp: Path, workdir: Path) -> None:
        self.server = server
        self.mcp = mcp
        self.workdir = workdir


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=Path, default=TARGET / "availsync-server")
    parser.add_argument("--mcp", type=Path, default=TARGET / "availsync-mcp")
    args = parser.parse_args()
    for binary in (args.server, args.mcp):
        if not binary.is_file():
            print(f"missing {binary}: run cargo build -p availsync-server -p availsync-mcp", file=sys.stderr)
            return 2

    passed = failed = 0
    server = Server(args.server)
    try:
        with tempfile.TemporaryDirectory(prefix="availsync-mcp-py-") as workdir:
            ctx = Context(server, args.mcp, Path(workdir))
            for test in TESTS:
                started = time.monotonic()
                try:
                    await asyncio.wait_for(test(ctx), timeout=120)
                except Exception:  # report every failure, keep going
                    failed += 1
                    print(f"FAIL  {test.__name__} ({time.monotonic() - started:.1f} s)")
                    traceback.print_exc()
                else:
                    passed += 1
                    print(f"ok    {test.__name__} ({time.monotonic() - started:.1f} s)")
    finally:
        server.stop()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
