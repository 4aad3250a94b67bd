// Offline administration on the coordinator's own machine: opens its database directly, so it
// works before anyone can log in, or with the coordinator stopped (SQLite's WAL also lets it
// run next to a live coordinator).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, flag, secret } from '../command.js';
import type { Context } from '../context.js';
import { describeError, Failure } from '../failure.js';
import { Choice, Text } from '../options.js';
import { readPassword } from '../password-prompt.js';

type Accounts = import('../../coordinator/accounts/account-service.js').AccountService;

/**
 * Runs fn with the account service of the coordinator database in dataDir. The coordinator's
 * modules (and the SQLite driver) are loaded only here, so other commands start fast.
 */
async function withAccounts<T>(dataDir: string, fn: (accounts: Accounts) => Promise<T>): Promise<T> {
  const file = join(resolve(dataDir), 'coordinator.sqlite');
  if (!existsSync(file)) throw new Failure(`no coordinator database in ${dataDir} (looked for ${file})`);
  const [{ Store }, { AccountService, AccountError }] = await Promise.all([
    import('../../coordinator/store/store.js'),
    import('../../coordinator/accounts/account-service.js'),
  ]);
  let store: InstanceType<typeof Store>;
  try {
    store = Store.open(file);
  } catch (e) {
    throw new Failure(`cannot open the coordinator database ${file}: ${describeError(e)}`);
  }
  try {
    return await fn(new AccountService(store.sql));
  } catch (e) {
    if (e instanceof AccountError) throw new Failure(e.message);
    throw e;
  } finally {
    await store.close();
  }
}

const DATA_DIR_FLAG = { env: ['VG_DATA_DIR'] };
const DataDir = Text();
// The service checks these too; checking here gives a usage error with the flag's name.
const Name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(64, 'must have at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'must use only letters, digits and . _ @ - (starting with a letter or digit)');
const Password = z.string().min(12, 'must have at least 12 characters').max(200, 'must have at most 200 characters');

export const createAccount = defineCommand({
  words: ['admin', 'create-account'],
  summary: "create an account directly in a coordinator's database (offline)",
  usage: `Usage: volunteer-grid admin create-account --data-dir DIR --name NAME [--role researcher|admin] [--password P]

Run on the coordinator's machine: opens DIR/coordinator.sqlite directly, no login needed.
Without --password a random password is generated and printed once.

  --data-dir DIR          the coordinator's data dir (env VG_DATA_DIR)
  --name NAME             the new account's name
  --role ROLE             researcher (default) | admin
  --password P            its password (12 to 200 characters)
`,
  flags: { 'data-dir': DATA_DIR_FLAG, name: flag(), role: flag(), password: secret() },
  schema: z.strictObject({
    dataDir: DataDir,
    name: Name,
    role: Choice(['researcher', 'admin']).default('researcher'),
    password: Password.optional(),
  }),
  async run(o, ctx) {
    const created = await withAccounts(o.dataDir, (accounts) =>
      accounts.create({ name: o.name, role: o.role, ...(o.password === undefined ? {} : { password: o.password }) }),
    );
    ctx.print(`created ${created.account.role} account ${created.account.name} (id ${created.account.id})`);
    if (created.password !== undefined) ctx.print(`password: ${created.password}\n(shown once: keep it somewhere safe)`);
    return 0;
  },
});

async function newPassword(ctx: Context, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const typed = await readPassword('New password: ', ctx.stdin, ctx.stderr);
  if (ctx.stdin.isTTY && (await readPassword('Repeat it: ', ctx.stdin, ctx.stderr)) !== typed) throw new Failure('the passwords differ');
  const checked = Password.safeParse(typed);
  if (!checked.success) throw new Failure(`the password ${checked.error.issues[0]!.message}`);
  return typed;
}

export const resetPassword = defineCommand({
  words: ['admin', 'reset-password'],
  summary: "set an account's password directly in a coordinator's database (offline)",
  usage: `Usage: volunteer-grid admin reset-password --data-dir DIR --name NAME [--password P]

Run on the coordinator's machine: opens DIR/coordinator.sqlite directly, no login needed. The
account's sessions end and its API tokens are revoked (CLIs and scripts using them log in again
or get a new token). Without --password the new password is
read from the terminal without echo (twice), or as the first line of piped stdin.

  --data-dir DIR          the coordinator's data dir (env VG_DATA_DIR)
  --name NAME             the account
  --password P            the new password (12 to 200 characters)
`,
  flags: { 'data-dir': DATA_DIR_FLAG, name: flag(), password: secret() },
  schema: z.strictObject({ dataDir: DataDir, name: Name, password: Password.optional() }),
  async run(o, ctx) {
    const file = join(resolve(o.dataDir), 'coordinator.sqlite');
    if (!existsSync(file)) throw new Failure(`no coordinator database in ${o.dataDir} (looked for ${file})`);
    const password = await newPassword(ctx, o.password);
    const account = await withAccounts(o.dataDir, async (accounts) => {
      const found = await accounts.byName(o.name);
      if (!found) throw new Failure(`no account named ${o.name}`);
      return accounts.update(found.id, { password });
    });
    ctx.print(`password of ${account.name} (${account.role}) changed; its sessions were ended and its API tokens revoked (\`volunteer-grid login\` makes a new one)`);
    return 0;
  },
});
