// What a command gets from the process: environment, streams, and the API client for the
// saved (or VG_URL/VG_TOKEN) login.
import { GridApi } from './api-client.js';
import { resolveCredentials, type Credentials } from './config-file.js';

export interface Context {
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadStream;
  /** Results: what scripts read. */
  stdout: NodeJS.WriteStream;
  /** Progress and notes for people. */
  stderr: NodeJS.WriteStream;
  /** Writes a line of results to stdout. */
  print(text: string): void;
  /** The coordinator of the current login; throws Failure when not logged in. */
  connect(): { api: GridApi; credentials: Credentials };
}

export function processContext(): Context {
  return {
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    print: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    connect() {
      const credentials = resolveCredentials(process.env);
      return { api: new GridApi(credentials.url, { token: credentials.token }), credentials };
    },
  };
}
