// Where the CLI keeps the coordinator's URL and an API token between runs: a small JSON file,
// mode 0600, at $VG_CLI_CONFIG or ~/.config/volunteer-grid/cli.json. VG_URL and VG_TOKEN
// override it, so scripts and CI need no file at all.
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';
import { Failure, fsReason } from './failure.js';

// Worded as "must …" for cli/command.ts, which names the flag before it.
export const TokenSchema = z.string().regex(/^vgt_[A-Za-z0-9_-]{16,200}$/, 'must be an API token: vgt_ and at least 16 letters, digits, _ or -');
export const UrlSchema = z.url({ protocol: /^https?$/, error: "must be the coordinator's URL, e.g. http://localhost:8080" });

const SavedSchema = z.object({
  url: UrlSchema,
  token: TokenSchema,
  /** The token's id on the server, known when `login` created it, so `logout` can revoke it. */
  tokenId: z.number().int().optional(),
  /** The account it belongs to, for messages. */
  account: z.string().optional(),
});
export type SavedLogin = z.infer<typeof SavedSchema>;

export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.VG_CLI_CONFIG) return env.VG_CLI_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'volunteer-grid', 'cli.json');
}

/** The saved login, or undefined when there is no config file. */
export function readSavedLogin(env: NodeJS.ProcessEnv): SavedLogin | undefined {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Failure(`cannot read ${file}: ${fsReason(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Failure(`${file} is not valid JSON: log in again, or delete it`);
  }
  const parsed = SavedSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Failure(`${file} is not a CLI config (its ${issue?.path.join('.') || 'content'} ${issue?.message}): log in again, or delete it`);
  }
  return parsed.data;
}

export function saveLogin(env: NodeJS.ProcessEnv, login: SavedLogin): string {
  const file = configPath(env);
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileDurably(file, `${JSON.stringify(login, null, 2)}\n`, 0o600);
    chmodSync(file, 0o600); // in case the umask or an older file said otherwise
  } catch (e) {
    // mkdir says EEXIST when the folder's name is taken by a file
    const reason = (e as NodeJS.ErrnoException).code === 'EEXIST' ? `${dirname(file)} is not a folder` : fsReason(e);
    throw new Failure(`cannot save the login in ${file}: ${reason} (choose another file with VG_CLI_CONFIG)`);
  }
  return file;
}

export function forgetLogin(env: NodeJS.ProcessEnv): void {
  const file = configPath(env);
  try {
    rmSync(file, { force: true });
  } catch (e) {
    throw new Failure(`cannot delete ${file}: ${fsReason(e)}`);
  }
}

export interface Credentials {
  url: string;
  token: string;
  /** Where the token came from, for messages. */
  source: 'environment' | 'config';
}

/** VG_URL and VG_TOKEN win over the config file; either may be set alone. */
export function resolveCredentials(env: NodeJS.ProcessEnv): Credentials {
  const saved = env.VG_URL && env.VG_TOKEN ? undefined : readSavedLogin(env);
  const url = env.VG_URL || saved?.url;
  const token = env.VG_TOKEN || saved?.token;
  if (!url || !token) {
    throw new Failure(`not logged in: run \`volunteer-grid login --url URL --name NAME\`, or set VG_URL and VG_TOKEN`);
  }
  const checkedUrl = UrlSchema.safeParse(url);
  if (!checkedUrl.success) throw new Failure(`VG_URL ${checkedUrl.error.issues[0]?.message}, not '${url}'`);
  const checkedToken = TokenSchema.safeParse(token);
  if (!checkedToken.success) throw new Failure(`${env.VG_TOKEN ? 'VG_TOKEN' : 'the saved token'} ${checkedToken.error.issues[0]?.message}`);
  return { url: url.replace(/\/+$/, ''), token, source: env.VG_TOKEN ? 'environment' : 'config' };
}
