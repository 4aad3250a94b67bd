// What every CLI command says about bad arguments, without a coordinator: each problem on a
// line of its own that names the flag (or positional), says in plain words what it must be and
// repeats the value given, never in zod's or node:util's internal wording.
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/all-commands.js';
import { parseCommandLine, type Command } from '../../cli/command.js';

/** The lines before the usage text, or the options when the arguments were accepted. */
function problems(command: Command, argv: string[], env: NodeJS.ProcessEnv = {}): string[] | 'accepted' {
  const loaded = parseCommandLine(command, argv, env);
  if (!('message' in loaded)) return 'accepted';
  expect(loaded.exitCode).toBe(2);
  expect(loaded.message.endsWith(command.usage)).toBe(true);
  return loaded.message.slice(0, -command.usage.length).trimEnd().split('\n');
}

const byName = (words: string) => COMMANDS.find((c) => c.words.join(' ') === words)!;
const ZOD_OR_NODE = /Invalid input|expected \w+, received|Too (small|big)|✖|→|<value>|ERR_|ambiguous|To specify|Unrecognized/;

describe('argument errors', () => {
  it('say the examples from the issue in plain words', () => {
    const submit = byName('submit');
    const base = ['--app', '3', '--inputs', 'in.ndjson', '--name', 'run'];
    expect(problems(submit, [...base, '--min-quorum', 'x'])).toEqual(["--min-quorum must be a whole number ≥ 1, not 'x'"]);
    expect(problems(submit, [...base, '--min-quorum', '0', '--fpops-est=-5'])).toEqual([
      "--min-quorum must be a whole number ≥ 1, not '0'",
      "--fpops-est must be a number > 0, not '-5'",
    ]);
    expect(problems(submit, ['--app', '3'])).toEqual(['--inputs FILE is required', '--name NAME is required']);
    expect(problems(submit, [...base, '--lines', 'rows'])).toEqual(["--lines must be inputs or workunits, not 'rows'"]);
    expect(problems(byName('status'), ['twelve'])).toEqual(["BATCH must be a batch id (a whole number ≥ 1), not 'twelve'"]);
    expect(problems(byName('wait'), ['12', '--timeout', 'soon'])).toEqual(["--timeout must be a number of seconds > 0, not 'soon'"]);
    expect(problems(byName('apps create'), ['--project', '2', 'sim', '--validation', 'fuzzy'])).toEqual(["--validation must be exact or tolerance, not 'fuzzy'"]);
    expect(problems(byName('apps upload'), ['--app', '5', 'dir', '--requirements', '[1]'])).toEqual([
      `--requirements must be a JSON object, e.g. {"wasm":true,"minMemoryMb":256}, not '[1]'`,
    ]);
    expect(problems(byName('projects credit-cap'), ['2', '--max-per-result', 'lots'])).toEqual([
      "--max-per-result must be a number of credits from 0 to 1,000,000,000, not 'lots'",
    ]);
  });

  it('say what node:util would say about the command line, in the same words', () => {
    const submit = byName('submit');
    expect(problems(submit, ['--colour'])).toEqual(['unknown option --colour']);
    expect(problems(submit, ['--app'])).toEqual(['--app needs a value: --app ID']);
    expect(problems(submit, ['--json=yes'])).toEqual(['--json takes no value']);
    expect(problems(submit, ['--priority', '-1'])).toEqual(["--priority needs a value; one that starts with a dash goes after '=': --priority=-1"]);
    expect(problems(byName('projects create'), [])).toEqual(['missing NAME']);
    expect(problems(byName('status'), ['1', '2'])).toEqual(["unexpected argument '2'"]);
  });

  it('name the environment variable a bad value came from, and never repeat a secret', () => {
    const login = byName('login');
    expect(problems(login, ['--name', 'ada'], { VG_URL: 'localhost:8080' })).toEqual([
      "--url (from VG_URL) must be the coordinator's URL, e.g. http://localhost:8080, not 'localhost:8080'",
    ]);
    expect(problems(login, ['--name', 'ada'])).toEqual(['--url URL is required (or set VG_URL)']);
    expect(problems(byName('token set'), ['--url', 'http://h:1', '--token', 'hunter2-is-my-token'])).toEqual([
      '--token must be an API token: vgt_ and at least 16 letters, digits, _ or -',
    ]);
    expect(problems(byName('admin create-account'), ['--data-dir', 'd', '--name', 'ada', '--password', 'short'])).toEqual([
      '--password must have at least 12 characters',
    ]);
  });

  it('are plain for every flag and positional of every command, whatever the value', () => {
    let checked = 0;
    for (const command of COMMANDS) {
      const positionals = (command.positionals ?? []).map(() => '1');
      for (const [name, spec] of Object.entries(command.flags)) {
        if (spec.boolean) continue;
        for (const value of ['x', '', '0', '-1', '1.5', '1e400', 'NaN', '{']) {
          const said = problems(command, [...positionals, `--${name}=${value}`]);
          if (said === 'accepted') continue;
          for (const line of said) {
            checked++;
            expect(line, `${command.words.join(' ')} --${name}=${value}`).not.toMatch(ZOD_OR_NODE);
            expect(line, `${command.words.join(' ')} --${name}=${value}`).toMatch(/^(--[a-z-]+|[A-Z]+|missing|unexpected|give) /);
          }
          // The flag given is the one named, when its value is what is wrong.
          if (said.some((l) => l.includes(`, not '${value}'`))) expect(said.join('\n')).toMatch(new RegExp(`--${name}\\b`));
        }
      }
      for (const [i, name] of (command.positionals ?? []).entries()) {
        for (const value of ['x', '', '0', '1.5']) {
          const said = problems(command, positionals.map((p, j) => (j === i ? value : p)));
          if (said === 'accepted') continue;
          for (const line of said) {
            checked++;
            expect(line, `${command.words.join(' ')} ${name}=${value}`).not.toMatch(ZOD_OR_NODE);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(200);
  });
});
