// App versions, their files and large inputs, fetched over HTTP by hash, verified, and cached
// on disk by hash (they never change). Nothing that fails verification is kept or run.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import { utf8 } from '../protocol/bytes.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { sha256Hex } from '../protocol/hash.js';
import { signBody } from '../protocol/signing.js';
import { appVersionProblem, fileProblem, type SignedAppVersion } from '../protocol/verify.js';
import type { AppBundle } from '../app-runtime/run-app.js';

/** Something the coordinator served does not verify: the task must not run. */
export class VerificationError extends Error {
  override name = 'VerificationError';
}

const FETCH_TIMEOUT_MS = 60_000;

export class AppCache {
  private readonly bundles = new Map<string, Promise<AppBundle>>();
  private readonly filesDir: string;
  private readonly versionsDir: string;

  constructor(
    dataDir: string,
    private readonly baseUrl: string,
    private readonly ed: Ed25519,
    private readonly coordinatorKey: string,
    private readonly host: { publicKey: string; seed: string },
  ) {
    this.filesDir = join(dataDir, 'files');
    this.versionsDir = join(dataDir, 'app-versions');
    mkdirSync(this.filesDir, { recursive: true });
    mkdirSync(this.versionsDir, { recursive: true });
  }

  /** The verified files of an app version; concurrent tasks of one version share one fetch. */
  bundle(bundleHash: string): Promise<AppBundle> {
    let p = this.bundles.get(bundleHash);
    if (!p) {
      p = this.loadBundle(bundleHash);
      this.bundles.set(bundleHash, p);
      p.catch(() => this.bundles.delete(bundleHash)); // try again for the next task
    }
    return p;
  }

  /** A large input by hash: its bytes must be the canonical JSON the task signed. */
  async input(inputHash: string): Promise<unknown> {
    const bytes = await this.file(inputHash, (b) => (sha256Hex(b) === inputHash ? undefined : 'the input file does not match inputHash'));
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  }

  /** Uploads a large output, signed, before its result is reported. */
  async uploadOutput(outputJson: string): Promise<void> {
    const bytes = utf8(outputJson);
    const sha256 = sha256Hex(bytes);
    const signature = signBody(this.ed, this.host.seed, 'upload', { hostKey: this.host.publicKey, sha256 });
    const res = await fetch(`${this.baseUrl}/files/${sha256}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-vg-host-key': this.host.publicKey, 'x-vg-signature': signature },
      body: bytes,
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`uploading output ${sha256} failed: HTTP ${res.status} ${await res.text()}`);
  }

  private async loadBundle(bundleHash: string): Promise<AppBundle> {
    const cached = join(this.versionsDir, `${bundleHash}.json`);
    const doc = existsSync(cached)
      ? (JSON.parse(readFileSync(cached, 'utf8')) as SignedAppVersion)
      : ((await this.get(`/app-versions/${bundleHash}`).then((r) => r.json())) as SignedAppVersion);
    const checked = appVersionProblem(this.ed, this.coordinatorKey, bundleHash, doc);
    if ('problem' in checked) throw new VerificationError(checked.problem);
    const files = new Map<string, Uint8Array>();
    for (const entry of checked.manifest.files) files.set(entry.name, await this.file(entry.sha256, (b) => fileProblem(entry, b)));
    if (!existsSync(cached)) writeFileDurably(cached, JSON.stringify({ bundleHash, manifest: doc.manifest, signature: doc.signature }));
    return { entry: checked.manifest.entry, files };
  }

  private async file(sha256: string, problem: (bytes: Uint8Array) => string | undefined): Promise<Uint8Array> {
    const path = join(this.filesDir, sha256);
    if (existsSync(path)) {
      const bytes = new Uint8Array(readFileSync(path));
      if (problem(bytes) === undefined) return bytes; // else the cache is damaged: fetch again
    }
    const bytes = new Uint8Array(await (await this.get(`/files/${sha256}`)).arrayBuffer());
    const p = problem(bytes);
    if (p) throw new VerificationError(p);
    writeFileDurably(path, bytes);
    return bytes;
  }

  private async get(path: string): Promise<Response> {
    const res = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (res.status === 404) throw new VerificationError(`the coordinator has no ${path}`);
    if (!res.ok) throw new Error(`GET ${path} failed: HTTP ${res.status}`);
    return res;
  }
}
