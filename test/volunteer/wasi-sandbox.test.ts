// WASI programs in the Node volunteer's real sandbox (worker threads, SES, CPU and memory
// limits), built from C with Debian's clang and wasi-libc: the example computes what a plain
// reference does and resumes from its checkpoint file; a hostile probe learns nothing of the
// machine (no host file, no environment, clocks and randomness from the seed alone); a
// non-zero exit, a trap, an endless loop and unbounded memory each end as their failure, and
// the pool runs the next task after each; on a machine in New York, local time is UTC.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededWords } from '../../app-runtime/prng.js';
import { createLogger } from '../../common/log.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { EXAMPLES_DIR } from '../../examples/catalog.js';
import { collatzReference } from '../../examples/collatz/inputs.js';
import type { RunJob } from '../../volunteer-node/sandbox/messages.js';
import { SandboxPool, type TaskEvents } from '../../volunteer-node/sandbox/sandbox-pool.js';
import { PROBE_WASM } from '../helpers/wasi-probe.js';

const SEED = '5eed'.repeat(16);
const OTHER_SEED = 'c0ffee00'.repeat(8);
const COLLATZ = new Uint8Array(readFileSync(join(EXAMPLES_DIR, 'collatz', 'main.wasm')));
let nextTaskId = 1;

function job(wasm: Uint8Array, input: unknown, o: { rngSeed?: string; resume?: string } = {}): RunJob {
  return { type: 'run', taskId: nextTaskId++, entry: 'main.wasm', kind: 'wasi', files: [['main.wasm', wasm]], input, rngSeed: o.rngSeed ?? SEED, ...(o.resume === undefined ? {} : { resume: o.resume }) };
}

function recorder() {
  const checkpoints: string[] = [];
  const logs: string[] = [];
  const events: TaskEvents = {
    progress: () => {},
    checkpoint: async (json) => void checkpoints.push(json),
    log: (_level, text) => logs.push(text),
  };
  return { checkpoints, logs, events };
}

/** The random bytes a program reads first with this seed: xoshiro128** words, little-endian. */
function seededHex(seed: string, bytes: number): string {
  const next = seededWords(seed);
  let hex = '';
  while (hex.length < bytes * 2) {
    const w = next();
    for (let k = 0; k < 4; k++) hex += ((w >>> (8 * k)) & 0xff).toString(16).padStart(2, '0');
  }
  return hex.slice(0, bytes * 2);
}

describe('WASI programs in the daemon sandbox', () => {
  let pool: SandboxPool;
  beforeAll(() => {
    pool = new SandboxPool({ threads: 1, maxMemoryMb: 128, maxCpuMs: 20_000, log: createLogger('silent') });
  });
  afterAll(() => pool.close());

  const run = async (j: RunJob) => {
    const rec = recorder();
    const finished = await pool.run(j, rec.events);
    return { ...finished, ...rec };
  };

  it('runs the C example to the reference answer, checkpointing, and resumes from a checkpoint to the same answer', { timeout: 60_000 }, async () => {
    const input = { stdin: '1 500000', output: 'json' };
    const whole = await run(job(COLLATZ, input));
    expect(whole.outcome).toEqual({ ok: true, outputJson: canonicalJson(collatzReference(1, 500_000)) });
    expect(whole.checkpoints).toEqual([
      JSON.stringify({ wasiCheckpoint: Buffer.from('200001 156159 382\n').toString('base64') }),
      JSON.stringify({ wasiCheckpoint: Buffer.from('400001 230631 442\n').toString('base64') }),
    ]);
    expect(whole.logs).toEqual([]);

    const resumed = await run(job(COLLATZ, input, { resume: whole.checkpoints[1]! }));
    expect(resumed.outcome).toEqual(whole.outcome);
    expect(resumed.logs).toEqual(['resuming at 400001']);
    expect(resumed.checkpoints).toEqual([]); // nothing new: what it restored is not saved again
  });

  it('gives a probe only its own directory, no environment, and clocks and randomness from the seed', { timeout: 30_000 }, async () => {
    const input = { args: ['report', 'two words'], files: { 'data.txt': 'first line\nsecond' }, output: 'json' };
    const probe = await run(job(PROBE_WASM, input));
    expect(probe.outcome.ok).toBe(true);
    const report = JSON.parse((probe.outcome as { outputJson: string }).outputJson) as Record<string, unknown>;
    const start = 946_684_800 + Number.parseInt(SEED.slice(0, 7), 16);
    expect(report).toEqual({
      // a microsecond per reading, from an instant the seed chose
      realtime: [start, 1000],
      monotonic: [0, 2000],
      realtime2: [start, 3000],
      time: start,
      random: seededHex(SEED, 8),
      rand: expect.any(Number),
      args: ['main.wasm', 'report', 'two words'],
      env: 0,
      files: ['data.txt'],
      opens: { '/etc/passwd': false, '/proc/self/environ': false, '../etc/passwd': false, '/../../etc/hostname': false, '/dev/urandom': false, 'data.txt': true },
      symlink: 0,
      data: 'first line',
      wrote: 1,
      cwd: '/',
    });
    // The same task again gives the same bytes; another seed, another instant and other bytes.
    expect((await run(job(PROBE_WASM, input))).outcome).toEqual(probe.outcome);
    const other = JSON.parse(((await run(job(PROBE_WASM, input, { rngSeed: OTHER_SEED }))).outcome as { outputJson: string }).outputJson) as Record<string, unknown>;
    expect(other['time']).toBe(946_684_800 + Number.parseInt(OTHER_SEED.slice(0, 7), 16));
    expect(other['random']).toBe(seededHex(OTHER_SEED, 8));
    // A sleep passes at once on the virtual clock.
    expect((await run(job(PROBE_WASM, { args: ['sleep'], output: 'json' }))).outcome).toEqual({ ok: true, outputJson: '{"slept":5}' });
  });

  it('ends a non-zero exit, a trap, bad input, an endless loop and unbounded memory as failures, and keeps running tasks', { timeout: 60_000 }, async () => {
    const exit = await run(job(PROBE_WASM, { args: ['exit', '7'] }));
    expect(exit.outcome).toEqual({ ok: false, code: 'app_exit', message: 'the program exited with code 7' });
    expect(exit.logs).toEqual(['failing on purpose', 'with code 7']);
    expect((await run(job(PROBE_WASM, { args: ['trap'] }))).outcome).toEqual({ ok: false, code: 'app_exception', message: 'the program stopped: unreachable' });
    expect((await run(job(PROBE_WASM, { argv: ['x'] }))).outcome).toMatchObject({ ok: false, code: 'bad_input', message: expect.stringContaining('"argv"') });
    expect((await run(job(new TextEncoder().encode('not wasm'), 'x'))).outcome).toMatchObject({ ok: false, code: 'app_load_failed' });

    const small = new SandboxPool({ threads: 1, maxMemoryMb: 64, maxCpuMs: 1_500, log: createLogger('silent') });
    try {
      const spin = await small.run(job(PROBE_WASM, { args: ['spin'] }), recorder().events);
      expect(spin.outcome).toMatchObject({ ok: false, code: 'cpu_limit' });
      // WebAssembly memory is outside the V8 heap: the process's memory ceiling stops it, or its
      // CPU time first where touching new pages is slow (as on a busy virtual machine).
      const grow = await small.run(job(PROBE_WASM, { args: ['grow'] }), recorder().events);
      expect(grow.outcome).toMatchObject({ ok: false, code: expect.stringMatching(/^(memory|cpu)_limit$/) });
      const after = await small.run(job(COLLATZ, '1 1000'), recorder().events);
      expect(after.outcome).toEqual({ ok: true, outputJson: canonicalJson(`${JSON.stringify(collatzReference(1, 1000))}\n`) });
    } finally {
      await small.close();
    }
  });
});

describe("the volunteer's time zone: a WASI program sees UTC only", () => {
  let pool: SandboxPool;
  const zone = process.env.TZ;
  beforeAll(() => {
    // Set before the worker starts: a zone far from UTC, with summer time.
    process.env.TZ = 'America/New_York';
    pool = new SandboxPool({ threads: 1, maxMemoryMb: 128, maxCpuMs: 20_000, log: createLogger('silent') });
  });
  afterAll(async () => {
    await pool.close();
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  // WASI preview 1 has no time zones (wasi-libc has no tzset, timezone or tzname): a program could
  // learn the machine's zone only from its environment or the machine's files, and has neither.
  it('local time is UTC in summer and winter, whatever the machine’s zone', async () => {
    expect(new Date(Date.UTC(2020, 6, 1)).getTimezoneOffset()).toBe(240); // this process is in New York now
    const r = await pool.run(job(PROBE_WASM, { args: ['zone'], output: 'json' }), recorder().events);
    expect(r.outcome.ok, JSON.stringify(r.outcome)).toBe(true);
    expect(JSON.parse((r.outcome as { outputJson: string }).outputJson)).toEqual({
      local: [[12, 0, 0, 'UTC'], [12, 0, 0, 'UTC']],
      strftime: '12:30:15 +0000 UTC',
      mktime: 1593606615,
    });
  });
});
