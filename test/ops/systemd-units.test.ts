// The systemd units in docs/deploy/ start what they say: their command lines and environment
// are read by the coordinator's and the daemon's own option parsers, and their stop timeouts
// leave room for the graceful stop each does on SIGTERM. (systemd itself does not run here.)
import { readFileSync } from 'node:fs';
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
