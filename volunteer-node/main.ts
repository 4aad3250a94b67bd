// `npm run volunteer -- --url http://host:8080`: the headless volunteer daemon (daemon-main.ts);
// `… status | pause | …`: the companion (companion.ts), which controls the daemon running with
// the same --data-dir. Each loads only its own modules, so the companion answers quickly.
import { isCompanionCommand } from './control-protocol.js';

const argv = process.argv.slice(2);
if (isCompanionCommand(argv[0])) {
  const { runCompanion } = await import('./companion.js');
  process.exit(await runCompanion(argv, process.env));
}
await import('./daemon-main.js');
