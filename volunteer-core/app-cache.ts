// App versions, their files and large inputs: fetched from the coordinator by hash, verified,
// and kept by hash (they never change) in the volunteer's store: files on disk for the daemon,
// IndexedDB for the page. Nothing that fails verification is kept or run.
import type { AppBundle } from '../app-runtime/run-app.js';
import { fromUtf8, utf8 } from '../protocol/bytes.js';
import { Hex64 } from '../protocol/messages.js';
import { appVersionProblem, type SignedAppVersion } from '../protocol/verify.js';
import type { VolunteerCrypto } from './crypto.js';

/** Something the coordinator served does not verify: the task must not run. */
export class VerificationError extends Error {
  override name = 'VerificationError';
  constructor(
    /** The client error the task is reported with (docs/protocol.md). */
    readonly code: 'bad_app' | 'bad_input',
    message: string,
  ) {
    super(message);
  }
}

/** Where verified app versions and files are kept, by hash. */
export interface AppStore {
  appVersion(bundleHash: string): Promise<SignedAppVersion | undefined>;
  saveAppVersion(bundleHash: string, doc: SignedAppVersion): Promise<void>;
  file(sha256: string): Promise<Uint8Array | undefined>;
  saveFile(sha256: string, bytes: Uint8Array): Promise<void>;
}

const FETCH_TIMEOUT_MS = 60_000;

export class AppCache {
  private readonly bundles = new Map<string, Promise<AppBundle>>();

  constructor(
    private readonly store: AppStore,
    /** The coordinator's base URL; '' for the page's own origin. */
    private readonly baseUrl: string,
    private readonly crypto: VolunteerCrypto,
    private readonly coordinatorKey: string,
    private readonly host: { publicKey: string; seed: string },
  ) {}

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
    const bytes = await this.file(inputHash, 'bad_input', async (b) => ((await this.crypto.sha256Hex(b)) === inputHash ? undefined : 'the input file does not match inputHash'));
    return JSON.parse(fromUtf8(bytes)) as unknown;
  }

  /** Uploads a large output, signed, before its result is reported. */
  async uploadOutput(outputJson: string): Promise<void> {
    const bytes = utf8(outputJson);
    const sha256 = await this.crypto.sha256Hex(bytes);
    const signature = await this.crypto.sign(this.host.seed, 'upload', { hostKey: this.host.publicKey, sha256 });
    const res = await fetch(`${this.baseUrl}/files/${sha256}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-vg-host-key': this.host.publicKey, 'x-vg-signature': signature },
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`uploading output ${sha256} failed: HTTP ${res.status} ${await res.text()}`);
  }

  private async loadBundle(bundleHash: string): Promise<AppBundle> {
    const cached = await this.store.appVersion(bundleHash);
    const doc = cached ?? signedAppVersion(await (await this.get(`/app-versions/${bundleHash}`)).json());
    const checked = await this.crypto.check((ed) => appVersionProblem(ed, this.coordinatorKey, bundleHash, doc));
    if ('problem' in checked) throw new VerificationError('bad_app', checked.problem);
    const files = new Map<string, Uint8Array>();
    for (const entry of checked.manifest.files) {
      files.set(
        entry.name,
        await this.file(entry.sha256, 'bad_app', async (b) => {
          // protocol/verify.ts's fileProblem, with the hash from WebCrypto where there is one.
          if (b.length !== entry.size) return `file ${entry.name} has ${b.length} bytes, the manifest says ${entry.size}`;
          if ((await this.crypto.sha256Hex(b)) !== entry.sha256) return `file ${entry.name} does not match its SHA-256`;
          return undefined;
        }),
      );
    }
    if (!cached) await this.store.saveAppVersion(bundleHash, { bundleHash, manifest: doc.manifest, signature: doc.signature });
    return { entry: checked.manifest.entry, files };
  }

  private async file(sha256: string, code: VerificationError['code'], problem: (bytes: Uint8Array) => Promise<string | undefined>): Promise<Uint8Array> {
    const cached = await this.store.file(sha256);
    if (cached instanceof Uint8Array && (await problem(cached)) === undefined) return cached; // else damaged: fetch again
    const bytes = new Uint8Array(await (await this.get(`/files/${sha256}`)).arrayBuffer());
    const p = await problem(bytes);
    if (p) throw new VerificationError(code, p);
    await this.store.saveFile(sha256, bytes);
    return bytes;
  }

  private async get(path: string): Promise<Response> {
    const res = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (res.status === 404) throw new VerificationError('bad_app', `the coordinator has no ${path}`);
    if (!res.ok) throw new Error(`GET ${path} failed: HTTP ${res.status}`);
    return res;
  }
}

/** The shape of GET /app-versions/:hash; the manifest itself is checked by appVersionProblem. */
function signedAppVersion(v: unknown): SignedAppVersion {
  const doc = v as Partial<SignedAppVersion> | null;
  if (!doc || typeof doc !== 'object' || typeof doc.bundleHash !== 'string' || !Hex64.safeParse(doc.signature).success) {
    throw new VerificationError('bad_app', 'the app version document is malformed');
  }
  return { bundleHash: doc.bundleHash, manifest: doc.manifest, signature: doc.signature as string };
}
