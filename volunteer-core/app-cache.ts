// App versions, their files and large inputs: fetched from the coordinator by hash, verified,
// and kept by hash (they never change) in the volunteer's store: files on disk for the daemon,
// IndexedDB for the page. Nothing that fails verification is kept or run. The store has a
// budget: what does not fit goes, least recently used first, unless a held task needs it;
// what cannot fit even then is used from memory and not kept.
import type { AppBundle } from '../app-runtime/run-app.js';
import { manifestKind } from '../protocol/app-kind.js';
import { fromUtf8, utf8 } from '../protocol/bytes.js';
import { Hex64, type UploadProof } from '../protocol/messages.js';
import { appVersionProblem, type SignedAppVersion } from '../protocol/verify.js';
import { entryId, planEviction, type CacheEntry, type CacheKind } from './cache-budget.js';
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

/** The coordinator will not take this upload, however often it is sent. */
export class UploadRefused extends Error {
  override name = 'UploadRefused';
}

/** Where verified app versions and files are kept, by hash. */
export interface AppStore {
  appVersion(bundleHash: string): Promise<SignedAppVersion | undefined>;
  saveAppVersion(bundleHash: string, doc: SignedAppVersion): Promise<void>;
  file(sha256: string): Promise<Uint8Array | undefined>;
  saveFile(sha256: string, bytes: Uint8Array): Promise<void>;
  /** Everything kept, with its size and last use. */
  entries(): Promise<CacheEntry[]>;
  /** A task uses it now. */
  touch(kind: CacheKind, key: string): Promise<void>;
  remove(kind: CacheKind, key: string): Promise<void>;
}

/** What the volunteer's held tasks need: never evicted. */
export interface CacheUse {
  appVersions: ReadonlySet<string>;
  /** Inputs that travel as files, by hash. */
  inputs: ReadonlySet<string>;
}

export interface CacheBudget {
  maxBytes: number;
  inUse(): CacheUse;
}

const FETCH_TIMEOUT_MS = 60_000;

export class AppCache {
  /** Bundles in memory, while held tasks need them: concurrent tasks of one version share one fetch. */
  private readonly bundles = new Map<string, Promise<AppBundle>>();
  /** The files of each app version loaded, so that those of held tasks are never evicted. */
  private readonly versionFiles = new Map<string, readonly string[]>();
  /** Writes to the store, one at a time: each plans its room from what the last one left. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: AppStore,
    /** The base URL of the coordinator instance the volunteer is on now: files come from, and go to, that one. */
    private readonly baseUrl: () => string,
    private readonly crypto: VolunteerCrypto,
    private readonly coordinatorKey: string,
    private readonly host: { publicKey: string; seed: string },
    private readonly budget: CacheBudget,
  ) {
    void this.keep(0, async () => undefined); // a store over a (lowered) budget shrinks at once
  }

  /** The verified files of an app version. */
  bundle(bundleHash: string): Promise<AppBundle> {
    this.forgetUnused();
    let p = this.bundles.get(bundleHash);
    if (!p) {
      const loading = this.loadBundle(bundleHash);
      this.bundles.set(bundleHash, loading);
      loading.catch(() => this.bundles.get(bundleHash) === loading && this.bundles.delete(bundleHash)); // try again for the next task
      p = loading;
    }
    return p;
  }

  /** A large input by hash: its bytes must be the canonical JSON the task signed. */
  async input(inputHash: string): Promise<unknown> {
    const bytes = await this.file(inputHash, 'bad_input', async (b) => ((await this.crypto.sha256Hex(b)) === inputHash ? undefined : 'the input file does not match inputHash'));
    return JSON.parse(fromUtf8(bytes)) as unknown;
  }

  /**
   * Uploads a large output of a task, signed, before its result is reported. Throws
   * UploadRefused when the coordinator will never take it (too large, not this host's task any
   * more, another output already): retrying cannot help.
   */
  async uploadOutput(outputJson: string, taskId: number): Promise<void> {
    const bytes = utf8(outputJson);
    const sha256 = await this.crypto.sha256Hex(bytes);
    const proof: UploadProof = { hostKey: this.host.publicKey, sha256, taskId };
    const signature = await this.crypto.sign(this.host.seed, 'upload', proof);
    const res = await fetch(`${this.baseUrl()}/files/${sha256}`, {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        'x-vg-host-key': this.host.publicKey,
        'x-vg-task-id': String(taskId),
        'x-vg-signature': signature,
      },
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (res.ok) return;
    const text = await res.text();
    const message = `uploading the output of task ${taskId} (${sha256}) failed: HTTP ${res.status} ${text}`;
    // 403, 409, 413 and 400 say this upload will never be taken; others (408, 429, 5xx) may pass later.
    if ([400, 403, 409, 413].includes(res.status)) throw new UploadRefused(message);
    throw new Error(message);
  }

  private async loadBundle(bundleHash: string): Promise<AppBundle> {
    const cached = await this.store.appVersion(bundleHash);
    const doc = cached ?? signedAppVersion(await (await this.get(`/app-versions/${bundleHash}`)).json());
    const checked = await this.crypto.check((ed) => appVersionProblem(ed, this.coordinatorKey, bundleHash, doc));
    if ('problem' in checked) throw new VerificationError('bad_app', checked.problem);
    this.versionFiles.set(bundleHash, checked.manifest.files.map((f) => f.sha256));
    if (cached) this.touch('version', bundleHash);
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
    if (!cached) {
      const kept: SignedAppVersion = { bundleHash, manifest: doc.manifest, signature: doc.signature };
      await this.keep(utf8(JSON.stringify(kept)).length, () => this.store.saveAppVersion(bundleHash, kept));
    }
    return { entry: checked.manifest.entry, kind: manifestKind(checked.manifest), files };
  }

  private async file(sha256: string, code: VerificationError['code'], problem: (bytes: Uint8Array) => Promise<string | undefined>): Promise<Uint8Array> {
    const cached = await this.store.file(sha256);
    if (cached instanceof Uint8Array && (await problem(cached)) === undefined) {
      this.touch('file', sha256);
      return cached;
    } // else damaged: fetch again
    const bytes = new Uint8Array(await (await this.get(`/files/${sha256}`)).arrayBuffer());
    const p = await problem(bytes);
    if (p) throw new VerificationError(code, p);
    await this.keep(bytes.length, () => this.store.saveFile(sha256, bytes));
    return bytes;
  }

  /**
   * Makes room for `bytes` more within the budget and saves them, or does not save them when
   * they cannot fit. The cache is only a cache: a write that fails leaves the task running
   * from memory.
   */
  private keep(bytes: number, save: () => Promise<void>): Promise<void> {
    const write = async () => {
      const plan = planEviction(await this.store.entries(), await this.inUse(), this.budget.maxBytes, bytes);
      for (const e of plan.evict) await this.store.remove(e.kind, e.key);
      if (plan.fits) await save();
    };
    const done = this.writes.then(write).catch(() => undefined);
    this.writes = done;
    return done;
  }

  /** Ids (cache-budget.ts entryId) of what held tasks need. */
  private async inUse(): Promise<Set<string>> {
    const use = this.budget.inUse();
    const ids = new Set<string>();
    for (const version of use.appVersions) {
      ids.add(entryId('version', version));
      const files = this.versionFiles.get(version) ?? manifestFiles(await this.store.appVersion(version).catch(() => undefined));
      for (const f of files) ids.add(entryId('file', f));
    }
    for (const input of use.inputs) ids.add(entryId('file', input));
    return ids;
  }

  private touch(kind: CacheKind, key: string): void {
    void this.store.touch(kind, key).catch(() => undefined);
  }

  /** Drops bundles and file lists no held task needs any more: memory is bounded too. */
  private forgetUnused(): void {
    const { appVersions } = this.budget.inUse();
    for (const hash of this.bundles.keys()) if (!appVersions.has(hash)) this.bundles.delete(hash);
    for (const hash of this.versionFiles.keys()) if (!appVersions.has(hash)) this.versionFiles.delete(hash);
  }

  private async get(path: string): Promise<Response> {
    const res = await fetch(`${this.baseUrl()}${path}`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (res.status === 404) throw new VerificationError('bad_app', `the coordinator has no ${path}`);
    if (!res.ok) throw new Error(`GET ${path} failed: HTTP ${res.status}`);
    return res;
  }
}

/** The file hashes a stored manifest names (not verified: only to keep them from eviction). */
function manifestFiles(doc: SignedAppVersion | undefined): string[] {
  const files = (doc?.manifest as { files?: unknown } | undefined)?.files;
  return Array.isArray(files) ? files.flatMap((f) => (typeof (f as { sha256?: unknown })?.sha256 === 'string' ? [(f as { sha256: string }).sha256] : [])) : [];
}

/** The shape of GET /app-versions/:hash; the manifest itself is checked by appVersionProblem. */
function signedAppVersion(v: unknown): SignedAppVersion {
  const doc = v as Partial<SignedAppVersion> | null;
  if (!doc || typeof doc !== 'object' || typeof doc.bundleHash !== 'string' || !Hex64.safeParse(doc.signature).success) {
    throw new VerificationError('bad_app', 'the app version document is malformed');
  }
  return { bundleHash: doc.bundleHash, manifest: doc.manifest, signature: doc.signature as string };
}
