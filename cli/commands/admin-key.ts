// `admin init-key`: the coordinator key made once, for every instance of a cluster to be given.
// An instance never makes a --key-file itself: two started at once would make two keys.
import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand } from '../command.js';
import { Failure } from '../failure.js';
import { Text } from '../options.js';

export const initKey = defineCommand({
  words: ['admin', 'init-key'],
  summary: 'make the coordinator key once, for every instance to be given (--key-file)',
  usage: `Usage: volunteer-grid admin init-key --key-file FILE

Makes a new coordinator signing key in FILE, owner-only (0600), and prints its public key. Run
it once, before the first instance starts, and give every instance that file (--key-file FILE,
or VG_KEY_FILE): the database records the key of the first instance to start and refuses any
other. It never replaces a file: the key is the platform's identity (volunteers pin it, the
ledger is signed with it). Keep a copy apart from the backups (docs/deploy.md, The key).

A single coordinator needs no init: without --key-file it makes DATA_DIR/coordinator-key.json
at its first start.

  --key-file FILE         where to write the key (env VG_KEY_FILE); its directory must exist
`,
  flags: { 'key-file': { env: ['VG_KEY_FILE'] } },
  schema: z.strictObject({ keyFile: Text() }),
  async run(o, ctx) {
    const [{ createCoordinatorKeyFile }, { nodeEd25519 }] = await Promise.all([
      import('../../coordinator/identity/coordinator-key.js'),
      import('../../protocol/ed25519-node.js'),
    ]);
    let publicKey: string;
    try {
      publicKey = createCoordinatorKeyFile(o.keyFile, nodeEd25519());
    } catch (e) {
      throw new Failure((e as Error).message);
    }
    ctx.print(`coordinator key written to ${resolve(o.keyFile)} (mode 600)`);
    ctx.print(`public key: ${publicKey}`);
    return 0;
  },
});
