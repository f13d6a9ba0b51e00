#!/usr/bin/env node
// availsync-mcp driven by a client nobody here wrote: the official TypeScript
// MCP SDK (@modelcontextprotocol/sdk, pinned in package.json), the SDK that
// Claude Code, Gemini CLI, Cline and the MCP Inspector are built on. Its
// `callTool` validates every result's structured content against the tool's
// output schema, and refuses a result that does not match — which is how an
// error's "STOP … tell the user" could fail to reach the model.
//
// It starts the built `availsync-server serve` (plain HTTP, a temporary data
// directory, a free port), signs up and creates agents over HTTP, spawns the
// built `availsync-mcp` through the SDK's StdioClientTransport, and checks
// what the model is told: PROCEED, SKIP naming the holder, STOP from an
// unreachable server, INVALID arguments, and LEASE LOST on the next call after
// the server was paused (SIGSTOP) past the lease's TTL and resumed (SIGCONT).
// Two tests use the v2 SDK (@modelcontextprotocol/client, pinned too) to speak
// the stateless 2026-07-28 revision: versionNegotiation pinned to 2026-07-28
// (each request carries its version and capabilities in `_meta`), and 'auto'
// (which asks `server/discover` first).
//
// Usage: node test_stdio.mjs [--server PATH] [--mcp PATH]  (default target/debug)
// Prints one line per test and a closing "N passed, N failed"; exits 1 on any
// failure.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, openSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { Client as ModernClient } from "@modelcontextprotocol/client";
import { StdioClientTransport as ModernStdioClientTransport } from "@modelcontextprotocol/client/stdio";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const TARGET = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug");
const TOOLS = [
  "check_availability",
  "check_conflicts",
  "claim_paths",
  "create_hold",
  "extend_run",
  "finish_run",
  "list_rules",
  "list_runs",
  "release_hold",
  "start_run",
  "usage",
];

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : fallback;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** A port nothing listens on (yet). */
async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** The built availsync-server on a free port with a temporary data dir. */
class Server {
  static async start(binary, dir) {
    const port = await freePort();
    const server = new Server();
    server.url = `http://127.0.0.1:${port}`;
    const log = openSync(join(dir, "server.log"), "w");
    server.process = spawn(
      binary,
      ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", join(dir, "data"), "--insecure-http"],
      { stdio: ["ignore", log, log], env: { ...process.env, RUST_LOG: "warn" } },
    );
    closeSync(log);
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const health = await (await fetch(`${server.url}/health`)).json();
        if (health.status === "ok") return server;
      } catch {
        // not up yet
      }
      if (server.process.exitCode !== null || Date.now() > deadline) {
        throw new Error(`availsync-server did not start; see ${join(dir, "server.log")}`);
      }
      await sleep(50);
    }
  }

  pause() {
    this.process.kill("SIGSTOP");
  }

  resume() {
    this.process.kill("SIGCONT");
  }

  async stop() {
    this.resume();
    this.process.kill("SIGTERM");
    await new Promise((done) => {
      if (this.process.exitCode !== null) return done();
      const timer = setTimeout(() => {
        this.process.kill("SIGKILL");
        done();
      }, 10_000);
      this.process.once("exit", () => {
        clearTimeout(timer);
        done();
      });
    });
  }
}

/** A signed-up workspace; its human session cookie creates agents. */
class Workspace {
  static async signUp(url) {
    const workspace = new Workspace();
    workspace.url = url;
    const email = `ts-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
    const response = await fetch(`${url}/v1/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: "correct horse battery", workspace_name: "TypeScript MCP test" }),
    });
    assert.equal(response.status, 201, await response.text());
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith("availsync_session="));
    assert.ok(cookie, "signup set the session cookie");
    workspace.cookie = cookie.split(";")[0];
    return workspace;
  }

  /** A new agent's API key (shown once). */
  async agent(name, mode = "enforce") {
    const response = await fetch(`${this.url}/v1/agents`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: this.cookie },
      body: JSON.stringify({ name, mode }),
    });
    const body = await response.text();
    assert.equal(response.status, 201, body);
    return JSON.parse(body).api_key;
  }
}

/** One tool call's answer: its text, structured content, isError and error _meta. */
class Answer {
  constructor(result) {
    const texts = result.content.filter((c) => c.type === "text").map((c) => c.text);
    assert.equal(texts.length, 1, `exactly one text content: ${JSON.stringify(result)}`);
    this.text = texts[0];
    this.lines = this.text.split("\n");
    this.data = result.structuredContent ?? null;
    this.isError = result.isError === true;
    this.error = result._meta?.["availsync/error"] ?? null;
    if (this.isError) {
      assert.equal(this.data, null, "an error carries no structured content");
      assert.ok(this.error?.code, `an error names its code in _meta: ${JSON.stringify(result)}`);
    } else {
      assert.ok(this.data && typeof this.data === "object", `structured content: ${JSON.stringify(result)}`);
    }
  }

  /** The first word(s) of the answer's own line (after any news lines). */
  get verdict() {
    return this.lines[this.lines.length - 1].split(":")[0];
  }

  toString() {
    return `Answer(${JSON.stringify(this.text)}, error=${this.isError})`;
  }
}

/** An MCP session with one availsync-mcp process. */
class Session {
  /**
   * `negotiation`: null for the v1 SDK (initialize, 2025-11-25), else the v2
   * SDK's versionNegotiation mode ('auto' or { pin: "2026-07-28" }).
   */
  static async open(binary, url, key, workdir, extraEnv = {}, negotiation = null) {
    const session = new Session();
    session.key = key;
    session.stderr = "";
    session.modern = negotiation !== null;
    const Transport = session.modern ? ModernStdioClientTransport : StdioClientTransport;
    session.transport = new Transport({
      command: binary,
      args: [],
      env: {
        PATH: process.env.PATH ?? "",
        HOME: workdir,
        AVAILSYNC_URL: url,
        AVAILSYNC_API_KEY: key,
        AVAILSYNC_CREDENTIALS_FILE: join(workdir, "no-credentials.toml"),
        RUST_LOG: "availsync_mcp=debug,warn",
        ...extraEnv,
      },
      stderr: "pipe",
    });
    session.transport.stderr?.on("data", (chunk) => {
      session.stderr += chunk.toString();
    });
    const clientInfo = { name: "availsync-typescript-test", version: "1.0.0" };
    session.client = session.modern
      ? new ModernClient(clientInfo, { versionNegotiation: { mode: negotiation } })
      : new Client(clientInfo);
    await session.client.connect(session.transport);
    // The SDK validates structured content only for tools it has listed.
    session.tools = (await session.client.listTools()).tools;
    return session;
  }

  async call(name, args = {}) {
    const result = this.modern
      ? await this.client.callTool({ name, arguments: args }, { timeout: 30_000 })
      : await this.client.callTool({ name, arguments: args }, undefined, { timeout: 30_000 });
    return new Answer(result);
  }

  async close() {
    await this.client.close();
    assert.ok(!this.stderr.includes(this.key), "the API key leaked to stderr");
  }
}

async function withSession(ctx, key, body, { url = ctx.server.url, env = {}, negotiation = null } = {}) {
  const session = await Session.open(ctx.mcp, url, key, ctx.workdir, env, negotiation);
  try {
    await body(session);
  } finally {
    await session.close();
  }
}

/** Every keyword used anywhere in a schema. */
function keywords(schema, out = new Set()) {
  if (Array.isArray(schema)) schema.forEach((s) => keywords(s, out));
  else if (schema && typeof schema === "object") {
    for (const [key, value] of Object.entries(schema)) {
      if (key === "properties") Object.values(value).forEach((p) => keywords(p, out));
      else {
        out.add(key);
        keywords(value, out);
      }
    }
  }
  return out;
}

/** Every `type` and `format` value used anywhere in a schema. */
function typesAndFormats(schema, out = []) {
  if (Array.isArray(schema)) schema.forEach((s) => typesAndFormats(s, out));
  else if (schema && typeof schema === "object") {
    for (const [key, value] of Object.entries(schema)) {
      if (key === "type" || key === "format") out.push([key, value]);
      if (typeof value === "object") typesAndFormats(value, out);
    }
  }
  return out;
}

const tests = {
  async initialize_lists_eleven_tools_with_plain_input_schemas(ctx) {
    const key = await (await Workspace.signUp(ctx.server.url)).agent("ts-lister");
    await withSession(ctx, key, async (s) => {
      const server = s.client.getServerVersion();
      assert.equal(server.name, "availsync-mcp");
      assert.match(s.client.getInstructions() ?? "", /start_run/);
      assert.deepEqual(s.tools.map((t) => t.name).sort(), TOOLS);
      for (const tool of s.tools) {
        assert.ok(tool.description.length > 80, `${tool.name} needs a real description`);
        assert.equal(tool.inputSchema.type, "object");
        assert.equal(tool.outputSchema?.type, "object", `${tool.name} has an output schema`);
        const used = keywords(tool.inputSchema);
        for (const banned of ["$ref", "$defs", "oneOf", "anyOf", "allOf"]) {
          assert.ok(!used.has(banned), `${tool.name}'s input schema uses ${banned}`);
        }
        for (const [key, value] of typesAndFormats(tool.inputSchema)) {
          assert.ok(typeof value === "string", `${tool.name}: ${key} ${JSON.stringify(value)} is a union`);
        }
        for (const [key, value] of typesAndFormats(tool.outputSchema)) {
          if (key === "format") assert.ok(["date-time", "uri"].includes(value), `${tool.name}: format ${value}`);
        }
      }
      const start = s.tools.find((t) => t.name === "start_run");
      assert.deepEqual(start.inputSchema.required, ["resource"]);
      assert.deepEqual(
        [start.inputSchema.properties.ttl_seconds.type, start.inputSchema.properties.ttl_seconds.minimum],
        ["integer", 10],
      );
      const wait = start.inputSchema.properties.wait_seconds;
      assert.deepEqual([wait.type, wait.minimum, wait.maximum], ["integer", 0, 60]);
      const finish = s.tools.find((t) => t.name === "finish_run");
      assert.deepEqual(finish.inputSchema.properties.outcome.enum, ["succeeded", "failed", "cancelled"]);
    });
  },

  async proceed_then_skip_naming_the_holder(ctx) {
    const workspace = await Workspace.signUp(ctx.server.url);
    const keyA = await workspace.agent("ts-claude");
    const keyB = await workspace.agent("ts-ci-bot");
    const repo = "repo:ts/flow";
    await withSession(ctx, keyA, async (a) => {
      const claimed = await a.call("start_run", { resource: repo, ttl_seconds: 30, purpose: "typescript flow" });
      assert.equal(claimed.verdict, "PROCEED", String(claimed));
      assert.equal(claimed.data.lease.kept_alive, true);
      const runA = claimed.data.run_id;
      await withSession(ctx, keyB, async (b) => {
        const skipped = await b.call("start_run", { resource: repo });
        assert.equal(skipped.verdict, "SKIP", String(skipped));
        assert.ok(!skipped.isError, String(skipped));
        assert.ok(skipped.text.includes("'ts-claude'") && skipped.text.includes(runA), String(skipped));
        assert.equal(skipped.data.holder.agent_name, "ts-claude");
        assert.equal(skipped.data.holder.same_agent, false);
      });
      const finished = await a.call("finish_run", { run_id: runA, outcome: "succeeded" });
      assert.equal(finished.verdict, "FINISHED", String(finished));
      assert.equal(finished.data.released, true);
    });
  },

  async paths_and_several_resources_validate_against_their_output_schemas(ctx) {
    const workspace = await Workspace.signUp(ctx.server.url);
    const keyA = await workspace.agent("ts-api");
    const keyB = await workspace.agent("ts-db");
    const repo = "repo:ts/shared";
    await withSession(ctx, keyA, async (a) => {
      const api = await a.call("start_run", { resource: repo, paths: ["src/api/"] });
      assert.equal(api.verdict, "PROCEED", String(api));
      assert.deepEqual(api.data.lease.paths, ["src/api/**"]);
      await withSession(ctx, keyB, async (b) => {
        const db = await b.call("start_run", { resource: repo, paths: ["src/db/"], mode: "edit" });
        assert.equal(db.verdict, "PROCEED", String(db));
        const reach = await b.call("claim_paths", { resource: repo, add: ["src/api/x.ts", "docs/"], partial: true });
        assert.equal(reach.verdict, "PARTIAL", String(reach));
        assert.deepEqual(reach.data.paths, ["src/db/**", "docs/**"]);
        assert.equal(reach.data.blocked_paths[0].holder.agent_name, "ts-api");
        const both = await b.call("start_run", { resource: "service:ts", with_resources: ["db:ts"] });
        assert.equal(both.verdict, "PROCEED", String(both));
        assert.equal(both.data.lease.resources.length, 2);
        const blocked = await a.call("start_run", { resource: "queue:ts", with_resources: ["db:ts"] });
        assert.equal(blocked.verdict, "SKIP", String(blocked));
        assert.equal(blocked.data.blocked_resources[0].resource, "db:ts");
      });
      const rules = await a.call("list_rules");
      assert.equal(rules.verdict, "RULES", String(rules));
      assert.deepEqual(rules.data.rules, []);
    });
  },

  async unreachable_server_is_a_stop_the_client_reads_as_text(ctx) {
    const dead = `http://127.0.0.1:${await freePort()}`;
    await withSession(
      ctx,
      "avs_live_unused",
      async (s) => {
        const answer = await s.call("start_run", { resource: "repo:ts/down" });
        assert.ok(answer.isError, String(answer));
        assert.equal(answer.verdict, "STOP", String(answer));
        assert.match(answer.text, /Do not go ahead/);
        assert.equal(answer.error.code, "unreachable");
        const listed = await s.client.listTools();
        assert.equal(listed.tools.length, TOOLS.length, "still serving after the failure");
      },
      { url: dead },
    );
  },

  async invalid_arguments_are_an_invalid_the_client_reads_as_text(ctx) {
    const key = await (await Workspace.signUp(ctx.server.url)).agent("ts-careless");
    await withSession(ctx, key, async (s) => {
      const ttl = await s.call("start_run", { resource: "repo:ts/x", ttl_seconds: 5 });
      assert.ok(ttl.isError && ttl.verdict === "INVALID", String(ttl));
      assert.match(ttl.text, /ttl_seconds/);
      const resource = await s.call("start_run", { resource: "repo:not a repo" });
      assert.ok(resource.isError && resource.verdict === "INVALID", String(resource));
      const outcome = await s.call("finish_run", { run_id: "run-x", outcome: "maybe" });
      assert.ok(outcome.isError && outcome.verdict === "INVALID", String(outcome));
      const missing = await s.call("finish_run", { run_id: "run-never-started", outcome: "failed" });
      assert.ok(missing.isError && missing.verdict === "NOT FOUND", String(missing));
    });
  },

  async a_lease_lost_while_the_server_was_paused_is_news_on_the_next_call(ctx) {
    const key = await (await Workspace.signUp(ctx.server.url)).agent("ts-paused");
    const repo = "repo:ts/paused";
    await withSession(
      ctx,
      key,
      async (s) => {
        const claimed = await s.call("start_run", { resource: repo, ttl_seconds: 10 });
        assert.equal(claimed.verdict, "PROCEED", String(claimed));
        const runId = claimed.data.run_id;
        ctx.server.pause();
        try {
          await sleep(13_000); // past the 10 s TTL: no extend gets through
        } finally {
          ctx.server.resume();
        }
        const next = await s.call("list_runs", { status: "active" });
        assert.ok(!next.isError, String(next));
        assert.equal(
          next.lines[0],
          `LEASE LOST: you no longer hold ${repo} (run ${runId}); stop editing it and tell the user. ` +
            "Why: no extend reached the Availsync server before it lapsed. Call start_run again before continuing.",
        );
        assert.equal(next.verdict, "RUNS", String(next));
        const again = await s.call("usage");
        assert.ok(!again.text.includes("LEASE LOST"), `told once, not twice: ${again}`);
        const finished = await s.call("finish_run", { run_id: runId, outcome: "succeeded" });
        assert.ok(finished.isError, String(finished));
        assert.ok(finished.text.startsWith(`LEASE LOST: run ${runId} lost its lease on ${repo}`), String(finished));
        assert.equal(finished.error.code, "lease_lost");
      },
      { env: { AVAILSYNC_MCP_CALL_TIMEOUT: "3s" } },
    );
  },

  async a_2026_07_28_client_pinned_sees_the_same_tools_and_claims_and_finishes(ctx) {
    const workspace = await Workspace.signUp(ctx.server.url);
    const keyA = await workspace.agent("ts-modern-a");
    const keyB = await workspace.agent("ts-modern-b");
    const repo = "repo:ts/modern";
    const shown = (tools) =>
      Object.fromEntries(tools.map((t) => [t.name, [t.description, t.inputSchema, t.outputSchema, t.annotations]]));
    await withSession(ctx, keyB, async (b) => {
      await withSession(
        ctx,
        keyA,
        async (a) => {
          assert.equal(a.client.getNegotiatedProtocolVersion(), "2026-07-28");
          assert.equal(a.client.getProtocolEra(), "modern");
          assert.deepEqual(shown(a.tools), shown(b.tools), "the tools differ between the two revisions");
          const claimed = await a.call("start_run", { resource: repo, purpose: "modern flow" });
          assert.equal(claimed.verdict, "PROCEED", String(claimed));
          assert.equal(claimed.data.lease.kept_alive, true);
          const runA = claimed.data.run_id;
          const skipped = await b.call("start_run", { resource: repo });
          assert.equal(skipped.verdict, "SKIP", String(skipped));
          assert.equal(skipped.data.holder.run_id, runA);
          const invalid = await a.call("finish_run", { run_id: runA, outcome: "maybe" });
          assert.ok(invalid.isError && invalid.verdict === "INVALID", String(invalid));
          const finished = await a.call("finish_run", { run_id: runA, outcome: "succeeded" });
          assert.equal(finished.verdict, "FINISHED", String(finished));
          assert.equal(finished.data.released, true);
        },
        { negotiation: { pin: "2026-07-28" } },
      );
    });
  },

  async a_2026_07_28_client_in_auto_mode_discovers_the_server(ctx) {
    const key = await (await Workspace.signUp(ctx.server.url)).agent("ts-modern-auto");
    await withSession(
      ctx,
      key,
      async (s) => {
        assert.equal(s.client.getProtocolEra(), "modern");
        const discovered = s.client.getDiscoverResult();
        assert.ok(discovered, "no server/discover answer");
        assert.ok(discovered.supportedVersions.includes("2026-07-28"), JSON.stringify(discovered));
        assert.ok(discovered.supportedVersions.includes("2025-11-25"), JSON.stringify(discovered));
        assert.equal(s.client.getServerVersion()?.name, "availsync-mcp");
        assert.ok(s.client.getInstructions()?.includes("start_run"));
        assert.deepEqual(s.tools.map((t) => t.name).sort(), TOOLS);
        const used = await s.call("usage");
        assert.equal(used.verdict, "USAGE", String(used));
      },
      { negotiation: "auto" },
    );
  },
};

async function main() {
  const serverBinary = option("--server", join(TARGET, "availsync-server"));
  const mcpBinary = option("--mcp", join(TARGET, "availsync-mcp"));
  for (const binary of [serverBinary, mcpBinary]) {
    if (!existsSync(binary)) {
      console.error(`missing ${binary}: run cargo build -p availsync-server -p availsync-mcp`);
      return 2;
    }
  }
  const workdir = mkdtempSync(join(tmpdir(), "availsync-mcp-ts-"));
  let passed = 0;
  let failed = 0;
  const server = await Server.start(serverBinary, workdir);
  try {
    const ctx = { server, mcp: mcpBinary, workdir };
    for (const [name, test] of Object.entries(tests)) {
      const started = Date.now();
      try {
        await Promise.race([
          test(ctx),
          sleep(120_000).then(() => {
            throw new Error("timed out after 120 s");
          }),
        ]);
        passed += 1;
        console.log(`ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed += 1;
        console.log(`FAIL  ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
        console.log(error?.stack ?? String(error));
      }
    }
  } finally {
    await server.stop();
    rmSync(workdir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exit(await main());
