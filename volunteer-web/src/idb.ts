// The page's durable memory, in IndexedDB: the host key, the trusted coordinator key, the task
// journal (tasks, checkpoints, unreported results), credit receipts and the app cache. A small
// typed wrapper over the raw API: one store per kind, keys out of line, promises instead of events.

export const STORES = ['meta', 'tasks', 'checkpoints', 'results', 'receipts', 'appVersions', 'files'] as const;
export type StoreName = (typeof STORES)[number];

const DB_NAME = 'volunteer-grid';
const DB_VERSION = 1;

const done = <T>(req: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });

const committed = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });

export class Idb {
  private constructor(private readonly db: IDBDatabase) {
    // Another tab upgrading the schema: let it, this one reloads to follow.
    db.onversionchange = () => db.close();
  }

  static open(name = DB_NAME): Promise<Idb> {
    return new Promise((resolve, reject) => {
      if (typeof indexedDB === 'undefined') return reject(new Error('this browser has no IndexedDB (a private window?)'));
      const req = indexedDB.open(name, DB_VERSION);
      req.onupgradeneeded = () => {
        for (const store of STORES) if (!req.result.objectStoreNames.contains(store)) req.result.createObjectStore(store);
      };
      req.onsuccess = () => resolve(new Idb(req.result));
      req.onerror = () => reject(req.error ?? new Error('cannot open IndexedDB'));
      req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab of this page; close it and reload'));
    });
  }

  async get<T>(store: StoreName, key: IDBValidKey): Promise<T | undefined> {
    return (await done(this.db.transaction(store, 'readonly').objectStore(store).get(key))) as T | undefined;
  }

  async all<T>(store: StoreName): Promise<T[]> {
    return (await done(this.db.transaction(store, 'readonly').objectStore(store).getAll())) as T[];
  }

  /**
   * Writes a value. `durable`: the promise resolves only once the write is flushed to disk
   * (what a checkpoint or a signed result needs); else the browser may batch it.
   */
  async put(store: StoreName, key: IDBValidKey, value: unknown, durable = false): Promise<void> {
    const tx = this.db.transaction(store, 'readwrite', { durability: durable ? 'strict' : 'relaxed' });
    tx.objectStore(store).put(value, key);
    await committed(tx);
  }

  /** Deletes one key from several stores, all or nothing. */
  async delete(stores: readonly StoreName[], key: IDBValidKey): Promise<void> {
    const tx = this.db.transaction([...stores], 'readwrite');
    for (const s of stores) tx.objectStore(s).delete(key);
    await committed(tx);
  }
}
