// The page's durable memory, in IndexedDB: the host key, the trusted coordinator key, the task
// journal (tasks, checkpoints, unreported results), credit receipts, the app cache (with
// its index of sizes and last uses) and the task history the page lists. A small typed wrapper over the raw API: one store per
// kind, keys out of line, promises instead of events.

export const STORES = ['meta', 'tasks', 'checkpoints', 'results', 'receipts', 'appVersions', 'files', 'cacheIndex', 'history'] as const;
export type StoreName = (typeof STORES)[number];

const DB_NAME = 'volunteer-grid';
/** 2: cacheIndex; 3: history. An upgrade only adds the stores that are missing. */
const DB_VERSION = 3;

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

  async keys(store: StoreName): Promise<IDBValidKey[]> {
    return done(this.db.transaction(store, 'readonly').objectStore(store).getAllKeys());
  }

  /** Every key with its value, read in one transaction. */
  async entries<T>(store: StoreName): Promise<[IDBValidKey, T][]> {
    const s = this.db.transaction(store, 'readonly').objectStore(store);
    const [keys, values] = await Promise.all([done(s.getAllKeys()), done(s.getAll())]);
    return keys.map((k, i) => [k, values[i] as T]);
  }

  /** Writes several values, to one store or more, all or nothing. */
  async putAll(writes: readonly [StoreName, IDBValidKey, unknown][], durable = false): Promise<void> {
    const tx = this.db.transaction([...new Set(writes.map(([s]) => s))], 'readwrite', { durability: durable ? 'strict' : 'relaxed' });
    for (const [s, key, value] of writes) tx.objectStore(s).put(value, key);
    await committed(tx);
  }

  /** Deletes several keys, each from its store, all or nothing. */
  async deleteAll(deletes: readonly [StoreName, IDBValidKey][]): Promise<void> {
    const tx = this.db.transaction([...new Set(deletes.map(([s]) => s))], 'readwrite');
    for (const [s, key] of deletes) tx.objectStore(s).delete(key);
    await committed(tx);
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
