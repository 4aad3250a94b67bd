// Logging in and out: the CLI keeps an API token, never a password or a session.
import { hostname } from 'node:os';
import { z } from 'zod';
import { GridApi, readAnswer } from '../api-client.js';
import { CreatedTokenSchema, SessionSchema } from '../../protocol/api.js';
import { defineCommand, flag, secret } from '../command.js';
import { configPath, forgetLogin, readSavedLogin, saveLogin, TokenSchema, UrlSchema } from '../config-file.js';
import { Failure } from '../failure.js';
import { jsonHelp, Switch, Text } from '../options.js';
import { readPassword } from '../password-prompt.js';

const trimUrl = (url: string) => url.replace(/\/+$/, '');

/** The session cookie a login answer sets, as a Cookie header value. */
function sessionCookie(response: Response): string {
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!.trim())
    .find((c) => c.startsWith('vg_session='));
  if (!cookie) throw new Failure('the coordinator logged in but set no session cookie');
  return cookie;
}

export const login = defineCommand({
  words: ['login'],
  summary: 'log in once and save an API token for the next commands',
  usage: `Usage: volunteer-grid login --url URL --name NAME [--password P] [--token-name LABEL]

Logs in, creates an API token named after this machine, ends the session and saves the URL and
the token in the config file (${'$'}VG_CLI_CONFIG or ~/.config/volunteer-grid/cli.json, mode 0600).
Without --password the password is read from the terminal without echo, or as the first line of
stdin when it is piped: echo "${'$'}PASSWORD" | volunteer-grid login --url … --name …

  --url URL               the coordinator, e.g. http://localhost:8080 (env VG_URL)
  --name NAME             your account name
  --password P            the password (visible to other users of this machine: prefer the prompt)
  --token-name LABEL      how the token is listed on the server (default: this machine's hostname)
`,
  flags: { url: { env: ['VG_URL'] }, name: flag(), password: secret(), 'token-name': flag() },
  schema: z.strictObject({
    url: UrlSchema,
    name: Text(),
    password: Text().optional(),
    tokenName: z.string().trim().pipe(Text(64)).optional(),
  }),
  async run(o, ctx) {
    const url = trimUrl(o.url);
    const password = o.password ?? (await readPassword(`Password for ${o.name} at ${url}: `, ctx.stdin, ctx.stderr));
    const loggedIn = await new GridApi(url).send('POST', '/session', { json: { name: o.name, password } });
    const session = await readAnswer(loggedIn, SessionSchema, 'POST /session');
    const api = new GridApi(url, { cookie: sessionCookie(loggedIn), csrfToken: session.csrfToken ?? '' });
    const tokenName = o.tokenName ?? `volunteer-grid CLI on ${hostname()}`.slice(0, 64);
    const created = await api.call('POST', '/tokens', CreatedTokenSchema, { json: { name: tokenName } });
    let file: string;
    try {
      file = saveLogin(ctx.env, { url, token: created.token, tokenId: created.id, account: session.account.name });
    } catch (e) {
      // Not kept here, so of no use to anyone: no token left behind on the server.
      await api.call('DELETE', `/tokens/${created.id}`, null).catch(() => undefined);
      throw e;
    } finally {
      // The session was only the way to the token; end it so no cookie stays valid for a week.
      await api.call('DELETE', '/session', null).catch(() => undefined);
    }
    ctx.print(`logged in to ${url} as ${session.account.name} (${session.account.role}); API token "${created.name}" saved in ${file}`);
    return 0;
  },
});

export const tokenSet = defineCommand({
  words: ['token', 'set'],
  summary: 'save an API token created elsewhere (web UI, another machine)',
  usage: `Usage: volunteer-grid token set --url URL --token vgt_…

Checks the token against the coordinator, then saves the URL and the token in the config file.

  --url URL               the coordinator, e.g. http://localhost:8080 (env VG_URL)
  --token TOKEN           the API token (vgt_…)
`,
  flags: { url: { env: ['VG_URL'] }, token: secret() },
  schema: z.strictObject({ url: UrlSchema, token: TokenSchema }),
  async run(o, ctx) {
    const url = trimUrl(o.url);
    const session = await new GridApi(url, { token: o.token }).call('GET', '/session', SessionSchema);
    const file = saveLogin(ctx.env, { url, token: o.token, account: session.account.name });
    ctx.print(`token of ${session.account.name} (${session.account.role}) at ${url} saved in ${file}`);
    return 0;
  },
});

export const whoami = defineCommand({
  words: ['whoami'],
  summary: 'show the account and coordinator the CLI is using',
  usage: `Usage: volunteer-grid whoami [--json]

${jsonHelp()}
`,
  flags: { json: flag(true) },
  schema: z.strictObject({ json: Switch }),
  async run(o, ctx) {
    const { api, credentials } = ctx.connect();
    const session = await api.call('GET', '/session', SessionSchema);
    if (o.json) ctx.print(JSON.stringify({ url: credentials.url, account: session.account }));
    else ctx.print(`${session.account.name} (${session.account.role}) at ${credentials.url}, token from ${credentials.source === 'environment' ? 'VG_TOKEN' : configPath(ctx.env)}`);
    return 0;
  },
});

export const logout = defineCommand({
  words: ['logout'],
  summary: 'revoke the saved API token on the server and delete it here',
  usage: `Usage: volunteer-grid logout

Revokes the saved API token on the coordinator and deletes the config file. A token saved with
\`token set\` cannot be told apart from your others: revoke it in the web UI.
`,
  flags: {},
  schema: z.strictObject({}),
  async run(_o, ctx) {
    const saved = readSavedLogin(ctx.env);
    if (!saved) throw new Failure(`not logged in (no ${configPath(ctx.env)})`);
    if (saved.tokenId !== undefined) {
      try {
        await new GridApi(saved.url, { token: saved.token }).call('DELETE', `/tokens/${saved.tokenId}`, null);
      } catch (e) {
        // 401: the token was revoked already; anything else: keep the file so logout can be retried
        if (!(e instanceof Failure && e.status === 401)) throw e;
      }
    }
    forgetLogin(ctx.env);
    ctx.print(
      saved.tokenId === undefined
        ? `logged out of ${saved.url}; the token was saved with \`token set\`, so revoke it in the web UI if it should stop working`
        : `logged out of ${saved.url}; the API token is revoked`,
    );
    return 0;
  },
});
