// Debian's nginx for reverse-proxy tests, run as a child process on loopback with a temp
// prefix. Never installed by a test: `apt-get install -y nginx-light` (CI's .ci/run does).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx'];

export function findNginx(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Skipped with a visible message outside CI when nginx is missing; under CI=true it runs (and fails). */
export function skipProxyTests(suite: string): boolean {
  if (findNginx() || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: no nginx at ${CANDIDATES.join(' or ')}: install it with \`apt-get install -y nginx-light\``);
  return true;
}

/** A free loopback port (closed again at once: the caller binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 (openssl), as cert.pem and key.pem in dir. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl could not make a certificate: ${r.stderr || r.error?.message}`);
  return { cert, key };
}

/** Replaces each `from` once in text, failing when one is not there (the documented file changed). */
export function substitute(text: string, pairs: [string, string][]): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`the proxy config no longer contains "${from}"`);
    out = out.split(from).join(to);
  }
  return out;
}

export interface Nginx {
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** Runs nginx in the foreground with `site` (a server-level config) inside a minimal main config in dir. */
export async function startNginx(dir: string, site: string, listening: number[]): Promise<Nginx> {
  const binary = findNginx();
  if (!binary) throw new Error('nginx is not installed: apt-get install -y nginx-light');
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'site.conf'), site);
  const main = `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  types { text/html html; application/javascript js; text/css css; }
  include ${join(dir, 'site.conf')};
}
`;
  writeFileSync(join(dir, 'nginx.conf'), main);
  const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await untilListening('nginx', child, listening, () => output.join('') + readLog(dir));
  return {
    child,
    output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT'); // graceful: finish requests, then exit
      await exited;
    },
  };
}

function readLog(dir: string): string {
  const f = join(dir, 'error.log');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

/** Resolves once every port answers a TCP connect; throws with what the server said if it exits or takes over 10 s. */
export async function untilListening(name: string, child: ChildProcess, ports: number[], said: () => string): Promise<void> {
  const until = Date.now() + 10_000;
  for (const port of ports) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${said()}`);
      if (await connects(port)) break;
      if (Date.now() > until) throw new Error(`${name} did not listen on ${port}: ${said()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
