// buildResult is how every reference client (the daemon, the page, the test volunteers) makes a
// result: whatever it is given, what it builds passes the schema the coordinator checks.
import { describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { ResultSchema } from '../../protocol/messages.js';
import { buildResult, type Outcome } from '../../protocol/results.js';
import { resultBody, verifyBody } from '../../protocol/signing.js';

const ed = tweetnaclEd25519();
const seed = toHex(new Uint8Array(32).fill(7));
const hostKey = toHex(ed.publicKeyFromSeed(new Uint8Array(32).fill(7)));
const task = { taskId: 3, workunitId: 2, hostKey };
const error = { code: 'app_exception', message: 'boom' };

describe('buildResult', () => {
  it('builds a signed success with its output hash, and an error without one', () => {
    const ok = buildResult(ed, seed, task, { output: { n: 1 } });
    expect(ResultSchema.parse(ok)).toMatchObject({ outcome: 'success', outputHash: jsonHash({ n: 1 }), output: { n: 1 } });
    expect(ok).not.toHaveProperty('error');
    const failed = buildResult(ed, seed, task, { error });
    expect(ResultSchema.parse(failed)).toMatchObject({ outcome: 'error', error });
    for (const r of [ok, failed]) expect(verifyBody(ed, hostKey, 'result', resultBody(r), r.signature)).toBe(true);
  });

  it('never puts an output on an error result, even when handed both', () => {
    // @ts-expect-error: an Outcome is an output or an error, not both
    const both: Outcome = { output: { n: 1 }, error };
    const r = buildResult(ed, seed, task, both);
    expect(r).toMatchObject({ outcome: 'error', error });
    expect(r).not.toHaveProperty('output');
    expect(r).not.toHaveProperty('outputHash');
    expect(ResultSchema.safeParse(r).success).toBe(true);
  });

  it('keeps measurements where the schema accepts them: a clock set back mid-task counts as 0', () => {
    const back = buildResult(ed, seed, task, { output: 1 }, { cpuTimeMs: -3, elapsedMs: Number.NaN });
    expect(back).toMatchObject({ cpuTimeMs: 0, elapsedMs: 0 });
    expect(ResultSchema.safeParse(back).success).toBe(true);
    const odd = buildResult(ed, seed, task, { error }, { cpuTimeMs: 12.5, elapsedMs: 2e12 });
    expect(odd).toMatchObject({ cpuTimeMs: 12.5, elapsedMs: 1e12 });
    expect(ResultSchema.safeParse(odd).success).toBe(true);
  });
});

describe('ResultSchema: one outcome per result', () => {
  const ok = buildResult(ed, seed, task, { output: { n: 1 } });
  const failed = buildResult(ed, seed, task, { error });
  const problems = (r: object) => {
    const p = ResultSchema.safeParse(r);
    return p.success ? [] : p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it.each([
    ['a success with an error', { ...ok, error }, 'error: a success result has no error'],
    ['a success without outputHash', { ...ok, outputHash: undefined }, 'outputHash: a success needs outputHash'],
    ['an error without error', { ...failed, error: undefined }, 'error: an error result needs error'],
    ['an error with outputHash', { ...failed, outputHash: ok.outputHash }, 'outputHash: an error result has no outputHash'],
    ['an error with an output', { ...failed, output: { n: 1 } }, 'output: an error result has no output'],
    ['an error with a null output', { ...failed, output: null }, 'output: an error result has no output'],
  ])('refuses %s', (_what, result, problem) => {
    expect(problems(result)).toEqual([problem]);
  });
});
