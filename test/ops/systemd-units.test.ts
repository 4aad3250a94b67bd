// The systemd units in docs/deploy/ start what they say: their command lines and environment
// are read by the coordinator's and the daemon's own option parsers, and their stop timeouts
// leave room for the graceful stop each does on SIGTERM. Where systemd-analyze is installed,
// systemd's own `verify` reads them too (systemd itself need not be running).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../coordinator/config.js';
import { loadVolunteerOptions } from '../../volunteer-node/options.js';

const DEPLOY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'deploy');

/** A unit file's [Service] settings, each key to its values in order; %h as a home directory. */
function service(file: string): Map<string, string[]> {
  const text = readFileSync(join(DEPLOY, file), 'utf8').replaceAll('%h', '/home/ada');
  const settings = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('[')) section = trimmed;
    else if (section === '[Service]') {
      const at = trimmed.indexOf('=');
      const key = trimmed.slice(0, at);
      settings.set(key, [...(settings.get(key) ?? []), trimmed.slice(at + 1)]);
    }
  }
  return settings;
}

describe('systemd units', () => {
  it("the coordinator's: its environment is a valid configuration, loopback only behind the proxy", () => {
    const s = service('volunteer-grid.service');
    expect(s.get('ExecStart')).toEqual(['/usr/bin/node --import tsx coordinator/main.ts']);
    const env = Object.fromEntries(s.get('Environment')!.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const loaded = loadConfig([], env);
    if ('message' in loaded) throw new Error(loaded.message);
    expect(loaded.options).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: '/var/lib/volunteer-grid', secureCookies: true, metricsPort: 9464, metricsHost: '127.0.0.1' });
    expect(s.get('KillSignal')).toEqual(['SIGTERM']);
    // Stopping waits for the drain (/readyz 503) and then some.
    expect(Number(s.get('TimeoutStopSec')![0]) * 1000).toBeGreaterThan(loaded.options.shutdownDrainMs + 10_000);
    expect(s.get('StateDirectoryMode')).toEqual(['0700']);
  });

  it("the daemon's user unit: its flags are valid, and stopping waits longer than the tasks' grace", () => {
    const s = service('volunteer-grid-volunteer.service');
    const [node, bin, ...args] = s.get('ExecStart')![0]!.split(/\s+/);
    expect([node, bin]).toEqual(['/usr/bin/node', 'volunteer-node/bin.mjs']);
    const loaded = loadVolunteerOptions(args, {});
    if ('message' in loaded) throw new Error(loaded.message);
    expect(loaded.options).toMatchObject({ dataDir: '/home/ada/.local/share/volunteer-grid', display: 'log' });
    expect(Number(s.get('TimeoutStopSec')![0])).toBeGreaterThan(loaded.options.graceSeconds);
    expect(s.get('KillSignal')).toEqual(['SIGTERM']);
  });
});

const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
if (!SYSTEMD_ANALYZE) console.warn('[systemd units] systemd-analyze verify skipped: no systemd-analyze here (it comes with systemd)');

/**
 * `systemd-analyze [--user] verify` on a copy of a unit: exit status and what it said. An unknown
 * key or a bad value is only a warning to systemd, so both must be clean. The copy runs the Node
 * of this test (verify checks that ExecStart's program exists, and /usr/bin/node may not).
 */
function verify(file: string, user: boolean): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vg-units-'));
  try {
    const copy = join(dir, file);
    writeFileSync(copy, readFileSync(join(DEPLOY, file), 'utf8').replaceAll('/usr/bin/node ', `${process.execPath} `));
    // A user manager needs a runtime directory, as a login session has.
    const runtime = join(dir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const r = spawnSync(SYSTEMD_ANALYZE!, [...(user ? ['--user'] : []), 'verify', copy], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: '0' },
      timeout: 30_000,
    });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!SYSTEMD_ANALYZE)('systemd-analyze verify', () => {
  it("the coordinator's system unit: no error, no warning", () => {
    expect(verify('volunteer-grid.service', false)).toEqual({ status: 0, output: '' });
  });

  it("the daemon's user unit, as a user manager reads it: no error, no warning", () => {
    expect(verify('volunteer-grid-volunteer.service', true)).toEqual({ status: 0, output: '' });
  });
});
