// Python apps in the Node volunteer's real sandbox (worker threads, SES, Pyodide, CPU limits):
// what a task gives run(input, ctx) and takes back; a hostile probe that tries every way out
// through Pyodide's JavaScript bridge, ctypes, gc, os.system, sockets and HTTP finds each
// refused, and reads clocks and randomness drawn from the seed alone; a task leaves nothing for
// the next one on the same interpreter; failures end as their codes, and the pool runs the next
// task after each; and on a machine in New York, the app sees UTC only.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, seededWords } from '../../app-runtime/prng.js';
import { createLogger } from '../../common/log.js';
import type { RunJob } from '../../volunteer-node/sandbox/messages.js';
import { SandboxPool, type TaskEvents } from '../../volunteer-node/sandbox/sandbox-pool.js';
import { PYTHON_PROBE } from '../helpers/python-probe.js';

const SEED = '5eed'.repeat(16);
const OTHER_SEED = 'c0ffee00'.repeat(8);
const enc = new TextEncoder();
let nextTaskId = 1;

function job(files: Record<string, string>, input: unknown, o: { rngSeed?: string; resume?: string; version?: string } = {}): RunJob {
  return {
    type: 'run',
    taskId: nextTaskId++,
    entry: 'main.py',
    kind: 'python',
    appVersionHash: o.version ?? 'a'.repeat(64),
    files: Object.entries(files).map(([name, text]) => [name, enc.encode(text)]),
    input,
    rngSeed: o.rngSeed ?? SEED,
    ...(o.resume === undefined ? {} : { resume: o.resume }),
  };
}

function recorder() {
  const checkpoints: string[] = [];
  const logs: string[] = [];
  const progress: number[] = [];
  const events: TaskEvents = {
    progress: (f) => void progress.push(f),
    checkpoint: async (json) => void checkpoints.push(json),
    log: (_level, text) => logs.push(text),
  };
  return { checkpoints, logs, progress, events };
}

function seededHex(seed: string, bytes: number): string {
  const next = seededWords(seed);
  let hex = '';
  while (hex.length < bytes * 2) {
    const w = next();
    for (let k = 0; k < 4; k++) hex += ((w >>> (8 * k)) & 0xff).toString(16).padStart(2, '0');
  }
  return hex.slice(0, bytes * 2);
}

const SUM_SQUARES = `
import json

def run(input, ctx):
    state = ctx.resume or {"next": input["lo"], "sum": 0}
    print("starting at", state["next"])
    while state["next"] < input["hi"]:
        state["sum"] += state["next"] ** 2
        state["next"] += 1
        if state["next"] % 1000 == 0:
            ctx.progress((state["next"] - input["lo"]) / (input["hi"] - input["lo"]))
            ctx.checkpoint(state)
    return {"sum": state["sum"], "seed": ctx.seed[:8], "random": ctx.random()}
`;

describe('Python apps in the daemon sandbox', () => {
  let pool: SandboxPool;
  let server: Server;
  let port: number;
  let requests = 0;
  beforeAll(async () => {
    pool = new SandboxPool({ threads: 1, maxMemoryMb: 512, maxCpuMs: 120_000, log: createLogger('silent') });
    server = createServer((_req, res) => {
      requests++;
      res.end('reached');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await pool.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const run = async (j: RunJob) => {
    const rec = recorder();
    const finished = await pool.run(j, rec.events);
    return { ...finished, ...rec };
  };

  it('runs run(input, ctx): the output, print() as the log, progress, checkpoints and a resume from one', async () => {
    const first = await run(job({ 'main.py': SUM_SQUARES }, { lo: 1, hi: 3001 }));
    let sum = 0;
    for (let n = 1; n < 3001; n++) sum += n * n;
    expect(first.outcome).toEqual({ ok: true, outputJson: JSON.stringify({ random: seededRandom(SEED)(), seed: SEED.slice(0, 8), sum }) });
    expect(first.logs).toEqual(['starting at 1']);
    expect(first.progress.at(-1)).toBeCloseTo(2999 / 3000);
    expect(first.checkpoints.map((c) => JSON.parse(c) as unknown)).toEqual([
      { next: 1000, sum: 332833500 },
      { next: 2000, sum: 2664667000 },
      { next: 3000, sum: 8995500500 },
    ]);

    const resumed = await run(job({ 'main.py': SUM_SQUARES }, { lo: 1, hi: 3001 }, { resume: first.checkpoints[1] }));
    expect(resumed.outcome).toEqual(first.outcome);
    expect(resumed.logs).toEqual(['starting at 2000']);
  }, 180_000);

  it("imports the version's other .py files, and reads its other files with ctx.file", async () => {
    const r = await run(
      job(
        {
          'main.py': 'import util\n\ndef run(input, ctx):\n    return [util.double(input), ctx.file("data.txt").decode(), util.__name__]\n',
          'util.py': 'def double(x):\n    return 2 * x\n',
          'data.txt': 'some data',
        },
        21,
      ),
    );
    expect(r.outcome).toEqual({ ok: true, outputJson: '[42,"some data","util"]' });
  }, 180_000);

  it('refuses every way out it knows of, and gives clocks and randomness from the seed alone', async () => {
    const reports = [];
    for (const rngSeed of [SEED, SEED, OTHER_SEED]) {
      const r = await run(job({ 'main.py': PYTHON_PROBE }, { port }, { rngSeed }));
      expect(r.outcome.ok, JSON.stringify(r.outcome)).toBe(true);
      reports.push(JSON.parse((r.outcome as { outputJson: string }).outputJson) as { routes: Record<string, string>; seen: Record<string, unknown> });
    }
    const [a, b, c] = reports as [(typeof reports)[0], (typeof reports)[0], (typeof reports)[0]];
    for (const [route, answer] of Object.entries(a.routes)) expect(`${route}: ${answer}`).toMatch(/^[^:]+: refused \(/);
    expect(Object.keys(a.routes).length).toBeGreaterThanOrEqual(25);
    expect(requests).toBe(0);
    // the same seed, the same world, on a fresh interpreter or a reused one
    expect(b).toEqual(a);
    const seconds = Number.parseInt(SEED.slice(0, 7), 16);
    expect(a.seen['time']).toBeCloseTo(946_684_800 + seconds + 1e-6, 5); // the first reading: 1 µs on
    expect(a.seen['datetime']).toBe(new Date((946_684_800 + seconds) * 1000).toISOString().replace('.000Z', '.000002')); // the second reading
    expect(a.seen['ctx.random']).toBe(seededRandom(SEED)());
    expect(a.seen['cwd']).toBe('/home/pyodide');
    expect(a.seen['home']).toEqual([]); // what the last task wrote there is gone
    expect(a.seen['listdir /']).toEqual(['dev', 'home', 'lib', 'proc', 'tmp']);
    expect(a.seen['platform']).toBe('emscripten');
    // another seed, another clock and stream
    expect(c.seen['time']).not.toBe(a.seen['time']);
    expect(c.seen['random']).not.toBe(a.seen['random']);
    expect(c.seen['uuid4']).not.toBe(a.seen['uuid4']);
    expect(c.seen['hash']).toBe(a.seen['hash']); // str hashes do not depend on the seed: fixed, as iteration orders
  }, 300_000);

  it("reads os.urandom from the seed's xoshiro128** stream, as a WASI program's random_get", async () => {
    const r = await run(job({ 'main.py': 'import os\n\ndef run(input, ctx):\n    return os.urandom(12).hex()\n' }, null));
    expect(r.outcome).toEqual({ ok: true, outputJson: JSON.stringify(seededHex(SEED, 12)) });
  }, 180_000);

  it('leaves nothing of a task for the next on the same interpreter', async () => {
    const meddler = `
import builtins, json, os, sys, random
import collections

def run(input, ctx):
    seen = {
        "builtin": hasattr(builtins, "left"),
        "json": json.dumps is not json.JSONEncoder,
        "patched": getattr(json, "patched", False),
        "module": "leftover" in sys.modules,
        "env": os.environ.get("LEFT"),
        "file": os.path.exists("/tmp/left") or os.path.exists("left"),
        "path": "/tmp" in sys.path,
        "limit": sys.getrecursionlimit(),
        "random": random.random(),
    }
    builtins.left = 1
    json.patched = True
    sys.modules["leftover"] = json
    os.environ["LEFT"] = "1"
    open("/tmp/left", "w").close()
    open("left", "w").close()
    sys.path.insert(0, "/tmp")
    sys.setrecursionlimit(50000)
    return seen
`;
    const first = await run(job({ 'main.py': meddler }, null));
    const second = await run(job({ 'main.py': meddler }, null));
    expect(first.outcome.ok).toBe(true);
    expect(second.outcome).toEqual(first.outcome);
    expect(JSON.parse((first.outcome as { outputJson: string }).outputJson)).toMatchObject({ builtin: false, patched: false, module: false, env: null, file: false, path: false });
  }, 180_000);

  it('ends failures with their codes, and runs the next task after each', async () => {
    const cases: [string, string, RegExp][] = [
      ['def run(input, ctx)\n    return 1\n', 'app_load_failed', /^SyntaxError: .* \(main\.py, line 1\)$/],
      ['x = 1\n', 'app_load_failed', /^main\.py must define run\(input, ctx\)$/],
      ['import numpy\n\ndef run(input, ctx):\n    return 1\n', 'app_load_failed', /^ModuleNotFoundError: No module named 'numpy' \(main\.py, line 1, in <module>\)$/],
      ['def run(input, ctx):\n    return 1 / 0\n', 'app_exception', /^ZeroDivisionError: division by zero \(main\.py, line 2, in run\)$/],
      ['import sys\n\ndef run(input, ctx):\n    sys.exit(3)\n', 'app_exit', /^the program exited with code 3$/],
      ['def run(input, ctx):\n    return {1, 2}\n', 'bad_output', /^the output is not JSON: ValueError: a set is not a JSON value/],
      ['def run(input, ctx):\n    return 2 ** 60\n', 'bad_output', /beyond 2\*\*53/],
      ['def run(input, ctx):\n    return float("nan")\n', 'bad_output', /nan is not a JSON number/],
      ['def run(input, ctx):\n    try:\n        ctx.checkpoint("x" * 100)\n    except BaseException:\n        pass\n    return 1\n', 'checkpoint_limit', /over the volunteer's limit of 50 bytes/],
    ];
    for (const [source, code, message] of cases) {
      const j = job({ 'main.py': source }, null);
      const r = await run(source.includes('checkpoint') ? { ...j, checkpointLimits: { bytes: 50, totalBytes: 1000 } } : j);
      expect(r.outcome, source).toMatchObject({ ok: false, code });
      expect((r.outcome as { message: string }).message, source).toMatch(message);
    }
    expect((await run(job({ 'main.py': 'def run(input, ctx):\n    return input\n' }, 'still here'))).outcome).toEqual({ ok: true, outputJson: '"still here"' });
  }, 300_000);
});

describe('Python apps over the CPU limit', () => {
  let pool: SandboxPool;
  beforeAll(() => {
    pool = new SandboxPool({ threads: 1, maxMemoryMb: 512, maxCpuMs: 15_000, log: createLogger('silent') });
  });
  afterAll(() => pool.close());

  it('stops an endless loop with cpu_limit and runs the next task on a fresh thread', async () => {
    const events = recorder().events;
    const endless = await pool.run(job({ 'main.py': 'def run(input, ctx):\n    while True:\n        pass\n' }, null, { version: 'b'.repeat(64) }), events);
    expect(endless.outcome).toMatchObject({ ok: false, code: 'cpu_limit' });
    const next = await pool.run(job({ 'main.py': 'def run(input, ctx):\n    return "next"\n' }, null), events);
    expect(next.outcome).toEqual({ ok: true, outputJson: '"next"' });
  }, 180_000);
});


describe("the volunteer's time zone: a Python app sees UTC only", () => {
  let pool: SandboxPool;
  const zone = process.env.TZ;
  beforeAll(() => {
    // Set before the worker starts: a zone far from UTC, with summer time.
    process.env.TZ = 'America/New_York';
    pool = new SandboxPool({ threads: 1, maxMemoryMb: 512, maxCpuMs: 120_000, log: createLogger('silent') });
  });
  afterAll(async () => {
    await pool.close();
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  // 2020-07-01 12:30:15 UTC: 08:30:15 summer time in New York; and a winter instant.
  const ZONE_PROBE = `
import time, datetime, os

def run(input, ctx):
    summer, winter = time.localtime(1593606615), time.localtime(1577881815)
    return {
        "timezone": [time.timezone, time.altzone, time.daylight, list(time.tzname)],
        "localtime": [[t.tm_hour, t.tm_isdst, t.tm_zone, t.tm_gmtoff] for t in (summer, winter)],
        "strftime": time.strftime("%H:%M:%S %z %Z", summer),
        "mktime": time.mktime(time.gmtime(1593606615)),
        "astimezone": datetime.datetime.fromtimestamp(1593606615).astimezone().isoformat(),
        "ctime": time.ctime(1593606615),
        "TZ": os.environ.get("TZ"),
    }
`;

  it('time, datetime and the environment show no offset, whatever the machine’s zone', async () => {
    expect(new Date(Date.UTC(2020, 6, 1)).getTimezoneOffset()).toBe(240); // this process is in New York now
    const r = await pool.run(job({ 'main.py': ZONE_PROBE }, {}), recorder().events);
    expect(r.outcome.ok, JSON.stringify(r.outcome)).toBe(true);
    // (Pyodide's C library names the zone from the offset the realm's Date gives it: none.)
    expect(JSON.parse((r.outcome as { outputJson: string }).outputJson)).toEqual({
      timezone: [0, 0, 0, ['UTC-0000', 'UTC-0000']],
      localtime: [[12, 0, 'UTC-0000', 0], [12, 0, 'UTC-0000', 0]],
      strftime: '12:30:15 +0000 UTC-0000',
      mktime: 1593606615,
      astimezone: '2020-07-01T12:30:15+00:00',
      ctime: 'Wed Jul  1 12:30:15 2020',
      TZ: 'UTC',
    });
  }, 180_000);
});
