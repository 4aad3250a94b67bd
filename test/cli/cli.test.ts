// The researcher CLI for real: `volunteer-grid` child processes against a real coordinator,
// with real volunteer daemons computing the example primes app, the downloaded results
// checked against the app run in this process.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../cli/format.js';
import { EXAMPLES, EXAMPLES_DIR } from '../../examples/catalog.js';
import type { PrimesInput } from '../../examples/primes/inputs.js';
import type { BatchStatus } from '../../protocol/api.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'cli', 'bin.mjs');
const ADMIN_PASSWORD = 'correct-horse-battery';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the CLI as the package bin runs it, with its own config file and no VG_* from outside. */
function grid(args: string[], options: { config: string; env?: Record<string, string>; stdin?: string }): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, VG_CLI_CONFIG: options.config, ...options.env };
  for (const name of ['VG_URL', 'VG_TOKEN', 'VG_DATA_DIR']) if (!options.env?.[name]) delete env[name];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.stdin ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`volunteer-grid ${args.join(' ')} did not exit:\n${stdout}\n${stderr}`));
    }, 45_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with the CLI's output when it did not exit as expected. */
function expectExit(run: Run, code: number): Run {
  if (run.code !== code) throw new Error(`expected exit ${code}, got ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

/** The primes app run directly in this process (trusted, no sandbox): the expected output. */
async function expectedPrimes(input: PrimesInput): Promise<string> {
  const mod = (await import(pathToFileURL(join(EXAMPLES_DIR, 'primes', 'main.js')).href)) as {
    default: (input: unknown, ctx: unknown) => Promise<unknown>;
  };
  const ctx = { resume: undefined, random: () => 0, progress: () => {}, checkpoint: async () => {}, file: async () => new Uint8Array() };
  return canonicalJson(await mod.default(input, ctx));
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const ndjson = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');

describe('the researcher CLI against a real coordinator', () => {
  let coordinator: TestCoordinator;
  let work: string;
  let config: string;
  let env: Record<string, string>;
  let volunteers: VolunteerProcess[] = [];
  const cli = (args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) => grid(args, { config, ...options });
  const json = <T>(run: Run) => JSON.parse(expectExit(run, 0).stdout) as T;

  beforeAll(async () => {
    coordinator = await startTestCoordinator({ adminPassword: ADMIN_PASSWORD });
    work = tempDir('vg-cli-');
    config = join(work, 'config', 'cli.json');
    // VG_URL and VG_TOKEN of an admin token, for the tests that need no config file
    const scratch = join(work, 'scratch.json');
    expectExit(await grid(['login', '--url', coordinator.url, '--name', 'admin', '--password', ADMIN_PASSWORD], { config: scratch }), 0);
    env = { VG_URL: coordinator.url, VG_TOKEN: (JSON.parse(readFileSync(scratch, 'utf8')) as { token: string }).token };
  });

  afterEach(async () => {
    await Promise.all(volunteers.map((v) => v.kill9()));
    volunteers = [];
  });

  afterAll(async () => {
    await coordinator?.dispose();
  });

  it('logs in, uploads the primes app, submits, waits for two volunteers and downloads correct results', async () => {
    // login with the password on piped stdin: a token is saved, readable only by its owner
    const login = expectExit(await cli(['login', '--url', coordinator.url, '--name', 'admin'], { stdin: `${ADMIN_PASSWORD}\n` }), 0);
    expect(login.stdout).toContain(`logged in to ${coordinator.url} as admin (admin)`);
    const saved = JSON.parse(readFileSync(config, 'utf8')) as { url: string; token: string };
    expect(saved.url).toBe(coordinator.url);
    expect(saved.token).toMatch(/^vgt_/);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(expectExit(await cli(['whoami']), 0).stdout).toContain('admin (admin)');

    const project = json<{ id: number; name: string }>(await cli(['projects', 'create', 'cli-primes', '--description', 'from the CLI test', '--json']));
    expect(project.name).toBe('cli-primes');
    expect(expectExit(await cli(['projects', 'list']), 0).stdout).toMatch(new RegExp(`^\\s*${project.id}\\s+cli-primes\\s+active`, 'm'));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'primes', '--json']));

    // the example's folder as it is: its .vgignore leaves the input generator out
    const uploaded = expectExit(await cli(['apps', 'upload', '--app', String(app.id), join(EXAMPLES_DIR, 'primes')]), 0).stdout.split('\n');
    expect(uploaded[0]).toBe(`uploaded version 1 of app primes (${app.id}) in project cli-primes (${project.id}): 1 file, 1.09 KiB`);
    expect(uploaded.slice(1, 4)).toEqual([
      '  kind      a JavaScript module, entry main.js (what the coordinator found it to be)',
      '  files     main.js (1.09 KiB)',
      '  left out  .vgignore (hidden), inputs.ts (.vgignore line 3: inputs.ts)',
    ]);
    expect(expectExit(await cli(['apps', 'show', String(app.id)]), 0).stdout).toMatch(/^\s*1\s+in service\s+javascript\s+any\s+main\.js\s/m);

    // a Python app: found by its main.py, compiled by the upload check, its kind shown
    const piHex = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'pi-hex', '--json']));
    const pythonUpload = expectExit(await cli(['apps', 'upload', '--app', String(piHex.id), join(EXAMPLES_DIR, 'pi-hex')]), 0).stdout.split('\n');
    expect(pythonUpload[1]).toBe('  kind      a Python app (Pyodide, the standard library), entry main.py (what the coordinator found it to be)');
    expect(expectExit(await cli(['apps', 'show', String(piHex.id)]), 0).stdout).toMatch(/^\s*1\s+in service\s+python\s+any\s+main\.py\s/m);

    const inputs = EXAMPLES.primes.inputs(12);
    const inputsFile = join(work, 'inputs.ndjson');
    writeFileSync(inputsFile, ndjson(inputs));
    const submitArgs = ['submit', '--app', String(app.id), '--inputs', inputsFile, '--name', 'run 1', '--fpops-est', '1e9'];
    const submitted = json<{ batchId: number; created: boolean; workunits: number }>(await cli([...submitArgs, '--json']));
    expect(submitted).toMatchObject({ created: true, workunits: 12 });
    // the same file and name again: idempotent
    const again = expectExit(await cli(submitArgs), 0);
    expect(again.stdout).toContain(`already submitted as batch ${submitted.batchId}`);
    const batches = json<{ batches: { id: number }[] }>(await cli(['batches', 'list', '--project', String(project.id), '--json']));
    expect(batches.batches.map((b) => b.id)).toEqual([submitted.batchId]);

    for (const i of [1, 2]) volunteers.push(VolunteerProcess.start(coordinator.url, tempDir('vg-cli-volunteer-'), ['--name', `cli-volunteer-${i}`]));
    const waited = expectExit(await cli(['wait', String(submitted.batchId), '--timeout', '40']), 0);
    expect(waited.stdout).toContain(`batch ${submitted.batchId} done: 12 work units`);
    expect(waited.stderr).toContain(`batch ${submitted.batchId} 100%, 12 of 12`); // not a terminal: plain progress lines
    expect(expectExit(await cli(['status', String(submitted.batchId)]), 0).stdout).toMatch(/: done\n.*\n\s+work units\s+12 of 12 finished \(100%\): 12 done, 0 failed/);

    const out = join(work, 'results', 'run-1.ndjson');
    mkdirSync(dirname(out));
    const downloaded = expectExit(await cli(['results', String(submitted.batchId), '--out', out]), 0);
    expect(downloaded.stdout).toContain(`wrote 12 results`);
    expect(readdirSync(dirname(out))).toEqual(['run-1.ndjson']); // no temp file left behind
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
    expect(lines.map((l) => l.seq)).toEqual(inputs.map((_, i) => i));
    for (const [i, line] of lines.entries()) {
      expect(line.status).toBe('done');
      expect(canonicalJson(line.output)).toBe(await expectedPrimes(inputs[i]!));
    }

    // logout revokes the token on the server, not only here
    expectExit(await cli(['logout']), 0);
    expect(existsSync(config)).toBe(false);
    expect(expectExit(await cli(['whoami']), 1).stderr).toMatch(/^error: not logged in/);
    const revoked = expectExit(await cli(['whoami'], { env: { VG_URL: coordinator.url, VG_TOKEN: saved.token } }), 1);
    expect(revoked.stderr).toMatch(/^error: .* refused the API token/);

    // a token made elsewhere can be saved as it is
    expect(expectExit(await cli(['token', 'set', '--url', coordinator.url, '--token', env.VG_TOKEN!]), 0).stdout).toContain('token of admin (admin)');
    expect(expectExit(await cli(['whoami']), 0).stdout).toContain(`admin (admin) at ${coordinator.url}`);
  }, 180_000); // a dozen CLI and daemon processes: 20 s on a quiet machine, over 60 s on a loaded one

  it('refuses a batch with a bad NDJSON line, naming the line, and creates nothing', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-bad-lines', '--json'], { env }));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'primes', '--json'], { env }));
    const appDir = join(work, 'bad-lines-app');
    mkdirSync(appDir);
    for (const f of await EXAMPLES.primes.files()) writeFileSync(join(appDir, f.name), f.bytes);
    expectExit(await cli(['apps', 'upload', '--app', String(app.id), appDir], { env }), 0);
    const file = join(work, 'bad.ndjson');
    writeFileSync(file, `${ndjson(EXAMPLES.primes.inputs(2))}{"from": 1, "to":\n${ndjson(EXAMPLES.primes.inputs(2))}`);
    const run = expectExit(await cli(['submit', '--app', String(app.id), '--inputs', file, '--name', 'bad'], { env }), 1);
    expect(run.stderr).toMatch(/^error: line 3: not valid JSON/m);
    expect(run.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(json<{ batches: unknown[] }>(await cli(['batches', 'list', '--project', String(project.id), '--json'], { env })).batches).toEqual([]);
  });

  it('submits whole work units per line with --lines workunits, sentinels included', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-sentinels', '--json'], { env }));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'thrower', '--json'], { env }));
    const appDir = join(work, 'sentinel-app');
    mkdirSync(appDir);
    writeFileSync(join(appDir, 'main.js'), 'export default async function run(input) { return input.n * 2; }\n');
    expectExit(await cli(['apps', 'upload', '--app', String(app.id), appDir], { env }), 0);
    const file = join(work, 'specs.ndjson');
    writeFileSync(file, ndjson([{ input: { n: 1 } }, { input: { n: 2 }, expectedOutput: 4 }]));
    const { batchId } = json<{ batchId: number }>(await cli(['submit', '--app', String(app.id), '--inputs', file, '--name', 'specs', '--lines', 'workunits', '--json'], { env }));
    expect(coordinator.store.db.prepare('SELECT input_json AS input, expected_output_json AS expected FROM workunits WHERE batch_id = ? ORDER BY seq').all(batchId)).toEqual([
      { input: '{"n":1}', expected: null },
      { input: '{"n":2}', expected: '4' },
    ]);
    const bad = expectExit(await cli(['submit', '--app', String(app.id), '--inputs', file, '--name', 'x', '--lines', 'rows'], { env }), 2);
    expect(bad.stderr).toMatch(/lines/);
  });

  it('says clearly when the token is wrong or the coordinator is unreachable', async () => {
    const wrong = expectExit(await cli(['projects', 'list'], { env: { VG_URL: coordinator.url, VG_TOKEN: 'vgt_thisIsNotAValidTokenAtAll' } }), 1);
    expect(wrong.stderr).toBe(`error: ${coordinator.url} refused the API token: the API token is not valid (revoked, or its account is disabled); log in again with \`volunteer-grid login\`\n`);
    const badLogin = expectExit(await cli(['login', '--url', coordinator.url, '--name', 'admin', '--password', 'not-the-password']), 1);
    expect(badLogin.stderr).toBe('error: wrong name or password (401 unauthenticated)\n');
    const nobody = `http://127.0.0.1:${await closedPort()}`;
    const down = expectExit(await cli(['projects', 'list'], { env: { VG_URL: nobody, VG_TOKEN: 'vgt_thisIsNotAValidTokenAtAll' } }), 1);
    expect(down.stderr).toMatch(new RegExp(`^error: cannot reach the coordinator at ${nobody}: .*ECONNREFUSED`));
  });

  it('wait exits 1 with how many work units failed, and errors lists why', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-failing', '--json'], { env }));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'thrower', '--json'], { env }));
    const appDir = join(work, 'thrower-app');
    mkdirSync(appDir);
    // A long message: its location comes after the first 120 characters.
    writeFileSync(join(appDir, 'main.js'), `export default async function run(input) { if (input.fail) throw new Error('no luck with ' + input.n + ': ' + 'this input is not one the app can use; '.repeat(3)); return input.n; }\n`);
    expectExit(await cli(['apps', 'upload', '--app', String(app.id), appDir], { env }), 0);
    const file = join(work, 'some-fail.ndjson');
    writeFileSync(file, ndjson([{ n: 1 }, { n: 2, fail: true }, { n: 3 }]));
    const args = ['submit', '--app', String(app.id), '--inputs', file, '--name', 'some fail', '--min-quorum', '1', '--target-nresults', '1', '--max-error-results', '0'];
    const { batchId } = json<{ batchId: number }>(await cli([...args, '--json'], { env }));
    volunteers.push(VolunteerProcess.start(coordinator.url, tempDir('vg-cli-volunteer-')));
    const waited = expectExit(await cli(['wait', String(batchId), '--timeout', '30'], { env }), 1);
    expect(waited.stderr).toContain(`error: batch ${batchId} finished with 1 failed work unit of 3`);
    const errors = expectExit(await cli(['errors', String(batchId)], { env }), 0);
    expect(errors.stdout).toContain('errors by code: app_exception 1');
    // the whole message, with where in the app it was thrown (not cut at 120 characters or a line)
    expect(errors.stdout).toMatch(/ app_exception  Error: no luck with 2: (this input is not one the app can use; ){3} \(at [^\n]*\(app:main\.js:1:\d+\)\)\n/);
    // --status done leaves the failed one out
    const out = join(work, 'some-fail.ndjson.out');
    expectExit(await cli(['results', String(batchId), '--out', out, '--status', 'done'], { env }), 0);
    expect(readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { output: number }).output)).toEqual([1, 3]);
  }, 45_000);

  it('retries failed work units once a fixed version is in; pins, retires and archives', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-repair', '--json'], { env }));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'fixable', '--json'], { env }));
    const upload = async (n: number, body: string) => {
      const dir = join(work, `fixable-${n}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'main.js'), `export default async function run(input) { ${body} }\n`);
      expectExit(await cli(['apps', 'upload', '--app', String(app.id), dir], { env }), 0);
    };
    await upload(1, "if (input.n === 2) throw new Error('two is a bug'); return input.n;");
    const file = join(work, 'fixable.ndjson');
    writeFileSync(file, ndjson([{ n: 1 }, { n: 2 }, { n: 3 }]));
    const args = ['submit', '--app', String(app.id), '--inputs', file, '--min-quorum', '1', '--target-nresults', '1', '--max-error-results', '0'];
    const { batchId } = json<{ batchId: number }>(await cli([...args, '--name', 'fixable', '--json'], { env }));
    const volunteer = VolunteerProcess.start(coordinator.url, tempDir('vg-cli-volunteer-'));
    volunteers.push(volunteer);
    expect(expectExit(await cli(['wait', String(batchId), '--timeout', '30'], { env }), 1).stderr).toContain('finished with 1 failed work unit of 3');

    // Nothing failed with that code; then the fix, and the failed one runs again with it.
    expect(expectExit(await cli(['retry', String(batchId), '--code', 'cpu_limit'], { env }), 0).stdout).toBe(
      `batch ${batchId} has no failed work units that failed with cpu_limit: nothing to retry\n`,
    );
    await upload(2, 'return input.n;');
    expect(expectExit(await cli(['retry', String(batchId), '--code', 'app_exception', '--code', 'cpu_limit'], { env }), 0).stdout).toBe(
      `retried 1 failed work unit of batch ${batchId} that failed with app_exception or cpu_limit; follow them with \`volunteer-grid wait ${batchId}\`\n`,
    );
    expect(expectExit(await cli(['wait', String(batchId), '--timeout', '30'], { env }), 0).stdout).toMatch(new RegExp(`^batch ${batchId} done: 3 work units`));
    const results = join(work, 'fixable.out');
    expectExit(await cli(['results', String(batchId), '--out', results], { env }), 0);
    expect(readFileSync(results, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { output: number }).output)).toEqual([1, 2, 3]);

    // Retiring the newest sends the one before; apps show says which are in service.
    expect(expectExit(await cli(['apps', 'retire', String(app.id), '2'], { env }), 0).stdout).toBe(`retired version 2 of app ${app.id}: no new task goes out with it\n`);
    const shown = expectExit(await cli(['apps', 'show', String(app.id)], { env }), 0).stdout;
    expect(shown).toMatch(/\n +1  in service /);
    expect(shown).toMatch(/\n +2  retired /);
    expect(expectExit(await cli(['apps', 'retire', String(app.id), '2', '--undo'], { env }), 0).stdout).toBe(`version 2 of app ${app.id} is back in service\n`);

    // Pinning, at submission and later; status says so.
    expect(expectExit(await cli(['pin', String(batchId), '--version', '1'], { env }), 0).stdout).toBe(`batch ${batchId} is pinned to version 1 of app fixable\n`);
    expect(expectExit(await cli(['status', String(batchId)], { env }), 0).stdout).toContain(`(${app.id}) in project cli-repair (${project.id}), pinned to version 1\n`);
    expect(expectExit(await cli(['pin', String(batchId), '--newest'], { env }), 0).stdout).toContain('is pinned to no version');
    expect(expectExit(await cli(['pin', String(batchId)], { env }), 2).stderr).toContain('give either --version N or --newest');
    await volunteer.kill9();
    const pinned = json<{ batchId: number }>(await cli([...args, '--name', 'pinned', '--app-version', '1', '--json'], { env }));
    expect(json<{ appVersion: number | null }>(await cli(['status', String(pinned.batchId), '--json'], { env })).appVersion).toBe(1);
    expect(expectExit(await cli([...args, '--name', 'no such version', '--app-version', '9'], { env }), 1).stderr).toMatch(/^error: .*version 9/m);

    // Archiving: finished batches only; left out of lists unless asked for.
    expect(expectExit(await cli(['archive', String(pinned.batchId)], { env }), 1).stderr).toContain(`batch ${pinned.batchId} is still running`);
    expect(expectExit(await cli(['archive', String(batchId)], { env }), 0).stdout).toBe(`archived batch ${batchId} "fixable"\n`);
    const list = async (extra: string[]) =>
      json<{ batches: { id: number; archived: boolean }[] }>(await cli(['batches', 'list', '--app', String(app.id), ...extra, '--json'], { env })).batches.map((b) => [b.id, b.archived]);
    expect(await list([])).toEqual([[pinned.batchId, false]]);
    expect(await list(['--archived'])).toEqual([[batchId, true]]);
    expect(expectExit(await cli(['batches', 'list', '--app', String(app.id), '--archived'], { env }), 0).stdout).toContain('done (archived)');
    expect(expectExit(await cli(['archive', String(batchId), '--undo'], { env }), 0).stdout).toBe(`batch ${batchId} "fixable" is back in lists\n`);
  }, 90_000);

  it('pauses a project: submit warns, status and wait say the batch cannot move; cancels it, and wait reports the cancellation', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-cancel', '--json'], { env }));
    expect(expectExit(await cli(['projects', 'pause', String(project.id)], { env }), 0).stdout).toContain('is paused');
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'primes', '--json'], { env }));
    const appDir = join(work, 'cancel-app');
    mkdirSync(appDir);
    for (const f of await EXAMPLES.primes.files()) writeFileSync(join(appDir, f.name), f.bytes);
    expectExit(await cli(['apps', 'upload', '--app', String(app.id), appDir], { env }), 0);
    const file = join(work, 'cancel.ndjson');
    writeFileSync(file, ndjson(EXAMPLES.primes.inputs(5)));
    // Submitting to a paused project works, with a warning; status and wait say why it cannot move.
    const submitted = await cli(['submit', '--app', String(app.id), '--inputs', file, '--name', 'to cancel', '--json'], { env });
    const { batchId } = json<{ batchId: number }>(submitted);
    expect(submitted.stderr).toContain('warning: project cli-cancel is paused: no task of this batch is sent until it is resumed\n');
    const paused = 'the project is paused: no task of it is sent until it is resumed';
    expect(expectExit(await cli(['status', String(batchId)], { env }), 0).stdout).toContain(`\n  blocked     ${paused}\n`);
    const stuck = expectExit(await cli(['wait', String(batchId), '--timeout', '1'], { env }), 1);
    expect(stuck.stderr).toContain(`batch ${batchId} cannot move: ${paused}`);
    expect(stuck.stderr).toContain(`error: timed out after 1s: batch ${batchId} has 0 of 5 work units finished`);
    expect(expectExit(await cli(['cancel', String(batchId)], { env }), 0).stdout).toBe(`cancelled 5 work units of batch ${batchId}\n`);
    const waited = expectExit(await cli(['wait', String(batchId)], { env }), 1);
    expect(waited.stderr).toContain(`error: batch ${batchId} was cancelled: 5 of 5 work units cancelled`);
    expect(expectExit(await cli(['projects', 'resume', String(project.id)], { env }), 0).stdout).toContain('is active');
  }, 90_000); // ten CLI processes one after another: 21–26 s on a quiet machine, over 30 s on a loaded one

  it('an admin sets a project’s credit cap, and puts it back to the default; projects list shows it', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-credit', '--json'], { env }));
    const set = expectExit(await cli(['projects', 'credit-cap', String(project.id), '--max-per-result', '2.5'], { env }), 0);
    expect(set.stdout).toBe(`project ${project.id} (cli-credit): at most 2.5 credits per result\n`);
    expect(expectExit(await cli(['projects', 'list'], { env }), 0).stdout).toMatch(new RegExp(`^\\s*${project.id}\\s+cli-credit\\s+.*\\s2\\.5$`, 'm'));
    const reset = json<{ creditCap: unknown }>(await cli(['projects', 'credit-cap', String(project.id), '--default', '--json'], { env }));
    expect(reset.creditCap).toEqual({ maxPerResult: 1000, isDefault: true, correcting: false });
    for (const args of [[], ['--default', '--max-per-result', '1'], ['--max-per-result', 'lots']]) {
      const run = expectExit(await cli(['projects', 'credit-cap', String(project.id), ...args], { env }), 2);
      expect(run.stderr).toMatch(/--max-per-result|--default/);
    }
  });

  it('an admin bounds a project’s work-unit priority, and puts it back to the default', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-priority', '--json'], { env }));
    const set = expectExit(await cli(['projects', 'priority-cap', String(project.id), '--max', '50'], { env }), 0);
    expect(set.stdout).toBe(`project ${project.id} (cli-priority): work-unit priority at most 50\n`);
    const reset = json<{ priorityCap: unknown }>(await cli(['projects', 'priority-cap', String(project.id), '--default', '--json'], { env }));
    expect(reset.priorityCap).toEqual({ maxPriority: 10, isDefault: true, lowering: false });
    for (const args of [[], ['--default', '--max', '1'], ['--max', '1001'], ['--max', 'high']]) {
      const run = expectExit(await cli(['projects', 'priority-cap', String(project.id), ...args], { env }), 2);
      expect(run.stderr).toMatch(/--max|--default/);
    }
  });

  it('uploads the Mandelbrot example folder as it is, names the app and project, and leaves out what it is told to', async () => {
    const project = json<{ id: number }>(await cli(['projects', 'create', 'cli-upload', '--json'], { env }));
    const app = json<{ id: number }>(await cli(['apps', 'create', '--project', String(project.id), 'mandelbrot', '--json'], { env }));
    const mandelbrot = join(EXAMPLES_DIR, 'mandelbrot');
    const run = expectExit(await cli(['apps', 'upload', '--app', String(app.id), mandelbrot, '--requirements', '{"wasm":true}'], { env }), 0);
    const kernel = readFileSync(join(mandelbrot, 'kernel.wasm'));
    const main = readFileSync(join(mandelbrot, 'main.js'));
    expect(run.stdout.split('\n').slice(0, 4)).toEqual([
      `uploaded version 1 of app mandelbrot (${app.id}) in project cli-upload (${project.id}): 2 files, ${formatBytes(kernel.length + main.length)}`,
      '  kind      a JavaScript module, entry main.js (what the coordinator found it to be)',
      `  files     kernel.wasm (${formatBytes(kernel.length)}), main.js (${formatBytes(main.length)})`,
      '  left out  .vgignore (hidden), inputs.ts (.vgignore line 4: inputs.ts), kernel.wat (.vgignore line 5: *.wat)',
    ]);
    const shown = json<{ versions: { files: { name: string; sha256: string }[] }[] }>(await cli(['apps', 'show', String(app.id), '--json'], { env }));
    expect(shown.versions[0]!.files).toEqual([
      { name: 'kernel.wasm', sha256: createHash('sha256').update(kernel).digest('hex'), size: kernel.length },
      { name: 'main.js', sha256: createHash('sha256').update(main).digest('hex'), size: main.length },
    ]);

    // --exclude after the folder's .vgignore; a pattern that matches nothing is worth a warning
    const dir = join(work, 'excluding-app');
    mkdirSync(join(dir, 'data'), { recursive: true });
    for (const name of ['main.js', 'notes.md', 'make-inputs.ts']) writeFileSync(join(dir, name), 'export default async () => 1;\n');
    writeFileSync(join(dir, '.vgignore'), '*.ts\n');
    const excluded = expectExit(await cli(['apps', 'upload', '--app', String(app.id), dir, '--exclude', 'data/', '--exclude', '*.md', '--exclude', 'nothing*'], { env }), 0);
    expect(excluded.stdout).toContain(`uploaded version 2 of app mandelbrot (${app.id}) in project cli-upload (${project.id}): 1 file, 30 B\n`);
    expect(excluded.stdout).toContain('  left out  .vgignore (hidden), data/ (--exclude data/), make-inputs.ts (.vgignore line 1: *.ts), notes.md (--exclude *.md)\n');
    expect(excluded.stderr).toBe(`warning: --exclude nothing* matches nothing in ${dir}\n`);
    // the entry itself left out, and an app that is not there: said before anything is sent
    const noEntry = expectExit(await cli(['apps', 'upload', '--app', String(app.id), dir, '--exclude', '*.js', '--exclude', 'data/'], { env }), 1);
    expect(noEntry.stderr).toBe('error: main.js, the entry module, is left out (--exclude *.js)\n');
    const noApp = expectExit(await cli(['apps', 'upload', '--app', '999999', dir, '--exclude', 'data/'], { env }), 1);
    expect(noApp.stderr).toMatch(/^error: .*\(404 not_found\)\n$/);
    expect(json<{ versions: unknown[] }>(await cli(['apps', 'show', String(app.id), '--json'], { env })).versions).toHaveLength(2);
  });

  it('says in words what is wrong with a local file or folder', async () => {
    const missing = expectExit(await cli(['submit', '--app', '1', '--inputs', join(work, 'nowhere.ndjson'), '--name', 'n'], { env }), 1);
    expect(missing.stderr).toBe(`error: cannot read ${join(work, 'nowhere.ndjson')}: no such file or folder\n`);
    const folder = expectExit(await cli(['submit', '--app', '1', '--inputs', work, '--name', 'n'], { env }), 1);
    expect(folder.stderr).toBe(`error: cannot read ${work}: it is not a file\n`);
    // A config file under a regular file: saving the login cannot work, and says why.
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    const badConfig = join(file, 'cli.json');
    const tokens = () => coordinator.store.db.prepare('SELECT COUNT(*) AS n FROM api_tokens').get();
    const before = tokens();
    const login = expectExit(await grid(['login', '--url', coordinator.url, '--name', 'admin', '--password', ADMIN_PASSWORD], { config: badConfig }), 1);
    expect(login.stderr).toBe(`error: cannot save the login in ${badConfig}: ${file} is not a folder (choose another file with VG_CLI_CONFIG)\n`);
    expect(tokens()).toEqual(before); // the token it could not keep was revoked
  });

  it('refuses app folders with subfolders, and usage errors exit 2', async () => {
    const appDir = join(work, 'nested-app');
    mkdirSync(join(appDir, 'lib'), { recursive: true });
    writeFileSync(join(appDir, 'main.js'), 'export default async () => 1;\n');
    const nested = expectExit(await cli(['apps', 'upload', '--app', '1', appDir], { env }), 1);
    expect(nested.stderr).toMatch(/^error: .*nested-app\/lib is a folder/);

    expect(expectExit(await cli([]), 2).stderr).toContain('Usage: volunteer-grid COMMAND');
    expect(expectExit(await cli(['--help']), 0).stdout).toContain('admin create-account');
    expect(expectExit(await cli(['submit', '--help']), 0).stdout).toContain('--min-quorum N');
    expect(expectExit(await cli(['frobnicate']), 2).stderr).toMatch(/^unknown command 'frobnicate'/);
    expect(expectExit(await cli(['projects', 'create']), 2).stderr).toMatch(/^missing NAME/);
    expect(expectExit(await cli(['status', 'twelve']), 2).stderr).toMatch(/^BATCH must be a batch id \(a whole number ≥ 1\), not 'twelve'\n\nUsage: volunteer-grid status/);
    expect(expectExit(await cli(['projects', 'list', '--colour']), 2).stderr).toMatch(/^unknown option --colour\n\nUsage: volunteer-grid projects list/);
    // argument errors name the flag and the value, in plain words
    const quorum = expectExit(await cli(['submit', '--app', '1', '--inputs', 'x.ndjson', '--name', 'n', '--min-quorum', 'x'], { env }), 2);
    expect(quorum.stderr).toMatch(/^--min-quorum must be a whole number ≥ 1, not 'x'\n\nUsage: volunteer-grid submit/);
  });

});

/** A batch's status as a stand-in coordinator gives it. */
const fakeStatus = (id: number): BatchStatus => ({
  id, projectId: 1, projectName: 'p', appId: 1, appName: 'a', name: 'b', clientKey: null, status: 'done', appVersion: null, archived: false, createdAt: 1, finishedAt: 2,
  workunits: { total: 2, active: 0, done: 2, failed: 0, cancelled: 0 },
  replicas: { unsent: 0, inProgress: 0, success: 4, clientError: 0, noReply: 0, aborted: 0, abandoned: 0, notNeeded: 0 },
  throughput: { workunitsPerSecond: 0, windowMs: 1 },
  etaMs: 0,
  series: { bucketMs: 1000, points: [{ t: 1, done: 2, failed: 0 }] },
  blocked: [],
});

describe('volunteer-grid results', () => {
  it('writes to stdout without --out or with --out -, whole lines only, and says which folder is missing', async () => {
    const server = createHttpServer((req, res) => {
      const [, , , , id, what] = (req.url ?? '').split(/[/?]/);
      if (what !== 'results') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fakeStatus(Number(id))));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      if (id === '10') {
        // Without end, for a reader that stops early.
        let seq = 0;
        const more = () => {
          if (res.destroyed) return;
          res.write(`${Array.from({ length: 100 }, () => JSON.stringify({ seq: seq++, status: 'done', output: seq })).join('\n')}\n`);
          setTimeout(more, 5);
        };
        return more();
      }
      res.write('{"seq":0,"status":"done","output":1}\n{"seq":1,"sta');
      if (id === '7') setTimeout(() => res.destroy(), 100);
      else if (id === '9') res.end('tus":"done","output":2}\n');
      else res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const dir = tempDir('vg-cli-results-');
      const env = { VG_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, VG_TOKEN: 'vgt_aTokenTheFakeServerIgnores' };
      const config = join(dir, 'cli.json');
      const lines = '{"seq":0,"status":"done","output":1}\n{"seq":1,"status":"done","output":2}\n';
      for (const args of [['results', '9'], ['results', '9', '--out', '-']]) {
        const run = expectExit(await grid(args, { config, env }), 0);
        expect(run.stdout).toBe(lines);
        expect(run.stderr).toBe('wrote 2 results (74 B) to stdout\n');
      }
      const broken = expectExit(await grid(['results', '7'], { config, env }), 1);
      expect(broken.stdout).toBe('{"seq":0,"status":"done","output":1}\n');
      expect(broken.stderr).toMatch(/^error: the download of batch 7's results broke off after 50 B: .*; stdout has the first 1 result only\n$/);
      const cut = expectExit(await grid(['results', '8'], { config, env }), 1);
      expect(cut.stdout).toBe('{"seq":0,"status":"done","output":1}\n');
      expect(cut.stderr).toBe("error: the download of batch 8's results ended in the middle of a line; stdout has the first 1 result only\n");
      expect(readdirSync(dir)).toEqual([]); // no file named '-', nothing else

      // A reader that goes away early (`| head -1`) ends the download quietly.
      const child = spawn(process.execPath, [BIN, 'results', '10'], { cwd: ROOT, env: { ...process.env, VG_CLI_CONFIG: config, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      await new Promise((resolve) => child.stdout.once('data', resolve));
      child.stdout.destroy();
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
      expect(stderr).toBe('');

      // A file in a folder that is not there: said before anything is downloaded.
      const missing = expectExit(await grid(['results', '9', '--out', 'no-such-folder/run-1.ndjson'], { config, env }), 1);
      expect(missing.stderr).toBe('error: cannot write no-such-folder/run-1.ndjson: the folder no-such-folder does not exist (create it first)\n');
      const folder = expectExit(await grid(['results', '9', '--out', dir], { config, env }), 1);
      expect(folder.stderr).toBe(`error: cannot write ${dir}: it is a folder; name a file in it, e.g. ${join(dir, 'results.ndjson')}\n`);
      const file = join(dir, 'run.ndjson');
      expect(expectExit(await grid(['results', '9', '--out', file], { config, env }), 0).stdout).toBe(`wrote 2 results (74 B) to ${file}\n`);
      expect(readFileSync(file, 'utf8')).toBe(lines);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('leaves no file behind when the download breaks off or ends mid-line', async () => {
    // A stand-in coordinator whose results downloads go wrong.
    const status = fakeStatus;
    const server = createHttpServer((req, res) => {
      const [, , , , id, what] = (req.url ?? '').split(/[/?]/);
      if (what !== 'results') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status(Number(id))));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"seq":0,"status":"done","output":1}\n{"seq":1,"sta');
      if (id === '7') setTimeout(() => res.destroy(), 100);
      else res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const dir = tempDir('vg-cli-results-');
      const out = join(dir, 'results.ndjson');
      writeFileSync(out, 'an earlier download\n');
      const env = { VG_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, VG_TOKEN: 'vgt_aTokenTheFakeServerIgnores' };
      const config = join(dir, 'cli.json');
      const broken = expectExit(await grid(['results', '7', '--out', out], { config, env }), 1);
      expect(broken.stderr).toMatch(/^error: the download of batch 7's results broke off after 50 B: .*; nothing written\n$/);
      const cut = expectExit(await grid(['results', '8', '--out', out], { config, env }), 1);
      expect(cut.stderr).toBe("error: the download of batch 8's results ended in the middle of a line; nothing written\n");
      expect(readdirSync(dir)).toEqual(['results.ndjson']);
      expect(readFileSync(out, 'utf8')).toBe('an earlier download\n');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('volunteer-grid admin (offline)', () => {
  let coordinator: TestCoordinator | undefined;
  afterEach(async () => {
    await coordinator?.dispose();
    coordinator = undefined;
  });

  it("creates an account in a stopped coordinator's database, which can then log in", async () => {
    const dataDir = tempDir('vg-cli-data-');
    const config = join(tempDir('vg-cli-'), 'cli.json');
    const first = await startTestCoordinator({ dataDir, adminPassword: ADMIN_PASSWORD });
    await first.close();

    const created = expectExit(await grid(['admin', 'create-account', '--data-dir', dataDir, '--name', 'ada'], { config }), 0);
    expect(created.stdout).toMatch(/^created researcher account ada \(id \d+\)\npassword: (\S+)\n/);
    const password = /password: (\S+)/.exec(created.stdout)![1]!;
    const twice = expectExit(await grid(['admin', 'create-account', '--data-dir', dataDir, '--name', 'ada'], { config }), 1);
    expect(twice.stderr).toBe('error: an account named "ada" already exists\n');
    const nowhere = expectExit(await grid(['admin', 'create-account', '--data-dir', join(dataDir, 'nope'), '--name', 'bob'], { config }), 1);
    expect(nowhere.stderr).toMatch(/^error: no coordinator database in /);

    coordinator = await startTestCoordinator({ dataDir });
    const login = expectExit(await grid(['login', '--url', coordinator.url, '--name', 'ada'], { config, stdin: `${password}\n` }), 0);
    expect(login.stdout).toContain('as ada (researcher)');
    // a researcher sees only their own projects
    expect(expectExit(await grid(['projects', 'list'], { config }), 0).stdout).toContain('no projects yet');

    await coordinator.close();
    const reset = expectExit(await grid(['admin', 'reset-password', '--data-dir', dataDir, '--name', 'ada'], { config, stdin: 'a-brand-new-password\n' }), 0);
    expect(reset.stdout).toContain('password of ada (researcher) changed');
    expect(reset.stdout).toContain('its sessions were ended and its API tokens revoked');
    coordinator = await startTestCoordinator({ dataDir });
    // The token the CLI saved came from the old password: it no longer works.
    const saved = JSON.parse(readFileSync(config, 'utf8')) as { token: string };
    const asSaved = await fetch(`${coordinator.url}/api/v1/session`, { headers: { authorization: `Bearer ${saved.token}` } });
    expect(asSaved.status).toBe(401);
    expectExit(await grid(['login', '--url', coordinator.url, '--name', 'ada', '--password', 'a-brand-new-password'], { config }), 0);
  }, 30_000);
});
