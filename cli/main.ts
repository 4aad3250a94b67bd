// `npm run grid -- …` / `volunteer-grid …`: the researcher's command line, a client of the
// coordinator's REST API (docs/api.md). Exit codes: 0 ok, 1 failure (one line on stderr),
// 2 usage error.
import { COMMANDS, GROUPS } from './all-commands.js';
import { parseCommandLine, type Command } from './command.js';
import { processContext } from './context.js';
import { describeError, Failure } from './failure.js';

function usage(commands: readonly { title: string; commands: Command[] }[] = GROUPS): string {
  const width = Math.max(...COMMANDS.map((c) => c.words.join(' ').length)) + 2;
  const sections = commands.map((g) => `${g.title}:\n${g.commands.map((c) => `  ${c.words.join(' ').padEnd(width)}${c.summary}`).join('\n')}`);
  return `Usage: volunteer-grid COMMAND [options]     (in a clone: npm run grid -- COMMAND [options])

${sections.join('\n\n')}

\`volunteer-grid COMMAND --help\` describes a command. Commands that talk to a coordinator use the
login saved by \`login\` (in ${'$'}VG_CLI_CONFIG, or ~/.config/volunteer-grid/cli.json); VG_URL and
VG_TOKEN override it. Exit codes: 0 ok, 1 failure, 2 usage error.
`;
}

/** The command named by the first words of argv, and the arguments after them. */
function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of COMMANDS) {
    if (c.words.every((w, i) => argv[i] === w) && c.words.length > (best?.words.length ?? 0)) best = c;
  }
  return best && { command: best, rest: argv.slice(best.words.length) };
}

async function main(argv: string[]): Promise<number> {
  const ctx = processContext();
  const first = argv[0];
  if (first === undefined) {
    ctx.stderr.write(usage());
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = argv.slice(1);
    const found = topic.length > 0 ? findCommand(topic) : undefined;
    ctx.stdout.write(found ? found.command.usage : usage());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === first);
    if (group.length > 0) {
      const asked = argv[1] === '--help' || argv[1] === '-h';
      const text = `${argv[1] === undefined || asked ? '' : `unknown command '${first} ${argv[1]}'\n\n`}${usage([{ title: `volunteer-grid ${first}`, commands: group }])}`;
      (asked ? ctx.stdout : ctx.stderr).write(text);
      return asked ? 0 : 2;
    }
    ctx.stderr.write(`unknown command '${first}'\n\n${usage()}`);
    return 2;
  }
  const parsed = parseCommandLine(found.command, found.rest, ctx.env);
  if ('message' in parsed) {
    (parsed.exitCode === 0 ? ctx.stdout : ctx.stderr).write(parsed.message);
    return parsed.exitCode;
  }
  try {
    return await found.command.run(parsed.options, ctx);
  } catch (e) {
    if (e instanceof Failure) {
      ctx.stderr.write(`error: ${e.message}\n`);
    } else {
      ctx.stderr.write(`error: ${describeError(e)}\n`);
      if (ctx.env.VG_DEBUG) ctx.stderr.write(`${(e as Error).stack ?? ''}\n`);
    }
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Exit once the output is flushed, whatever sockets or timers are still open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
