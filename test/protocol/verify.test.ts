// What a volunteer checks before running anything: tasks, app versions, files.
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import type { AppManifest, Task, TaskBody } from '../../protocol/messages.js';
import { signBody } from '../../protocol/signing.js';
import { appVersionProblem, fileProblem, taskProblem } from '../../protocol/verify.js';

const ed = nodeEd25519();
const coordSeed = toHex(ed.randomSeed());
const coordKey = toHex(ed.publicKeyFromSeed(fromHex(coordSeed)));
const hostKey = 'ab'.repeat(32);
const input = { from: 1, to: 10 };

function signedTask(overrides: Partial<TaskBody> = {}): Task {
  const body: TaskBody = {
    taskId: 7, workunitId: 3, hostKey, appVersionHash: 'cd'.repeat(32), inputHash: jsonHash(input),
    deadline: 1_800_000_000_000, rngSeed: 'ef'.repeat(32), fpopsEst: 1e9, issuedAt: 1_700_000_000_000, ...overrides,
  };
  return { ...body, input, signature: signBody(ed, coordSeed, 'task', body), project: 'p', app: 'a' };
}

describe('taskProblem (checked with tweetnacl, as a browser would)', () => {
  const nacl = tweetnaclEd25519();
  it('accepts a task signed by the coordinator for this host', () => {
    expect(taskProblem(nacl, coordKey, hostKey, signedTask())).toBeUndefined();
  });
  it('refuses a tampered field, a task for another host, a foreign signer and a swapped input', () => {
    expect(taskProblem(nacl, coordKey, hostKey, { ...signedTask(), deadline: 1_900_000_000_000 })).toMatch(/signature/);
    expect(taskProblem(nacl, coordKey, hostKey, { ...signedTask(), appVersionHash: 'ee'.repeat(32) })).toMatch(/signature/);
    expect(taskProblem(nacl, coordKey, 'cd'.repeat(32), signedTask())).toMatch(/another host/);
    const otherSeed = toHex(ed.randomSeed());
    const forged = { ...signedTask(), signature: signBody(ed, otherSeed, 'task', { ...signedTask(), input: undefined, signature: undefined, project: undefined, app: undefined }) };
    expect(taskProblem(nacl, coordKey, hostKey, forged)).toMatch(/signature/);
    expect(taskProblem(nacl, coordKey, hostKey, { ...signedTask(), input: { from: 1, to: 11 } })).toMatch(/inline input/);
  });
});

describe('appVersionProblem and fileProblem', () => {
  const bytes = utf8('export default async () => 1;');
  const manifest: AppManifest = { entry: 'main.js', files: [{ name: 'main.js', sha256: sha256Hex(bytes), size: bytes.length }] };
  const doc = { bundleHash: jsonHash(manifest), manifest, signature: signBody(ed, coordSeed, 'appVersion', manifest) };

  it('accepts a signed manifest that hashes to the bundle hash', () => {
    expect(appVersionProblem(ed, coordKey, doc.bundleHash, doc)).toEqual({ manifest });
  });
  it('refuses another bundle, a changed manifest, a foreign signature and a malformed manifest', () => {
    expect(appVersionProblem(ed, coordKey, 'ee'.repeat(32), doc)).toEqual({ problem: expect.stringMatching(/bundle hash/) });
    const changed = { ...manifest, entry: 'other.js' };
    expect(appVersionProblem(ed, coordKey, jsonHash(changed), { ...doc, manifest: changed })).toEqual({ problem: expect.stringMatching(/signature/) });
    expect(appVersionProblem(ed, toHex(ed.publicKeyFromSeed(ed.randomSeed())), doc.bundleHash, doc)).toEqual({ problem: expect.stringMatching(/signature/) });
    expect(appVersionProblem(ed, coordKey, doc.bundleHash, { ...doc, manifest: { entry: '../x', files: [] } })).toEqual({ problem: expect.stringMatching(/malformed/) });
  });
  it('checks each file by size and SHA-256', () => {
    expect(fileProblem(manifest.files[0]!, bytes)).toBeUndefined();
    expect(fileProblem(manifest.files[0]!, utf8('export default async () => 2;'))).toMatch(/SHA-256/);
    expect(fileProblem(manifest.files[0]!, utf8('x'))).toMatch(/bytes/);
  });
});
