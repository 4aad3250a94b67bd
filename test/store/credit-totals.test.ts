// Holders' credit written for several at once (a report's grants, CreditGranter.totalsOnce) on
// both backends: totals add up exactly and each recent average is stored as the very double it
// was computed as (on PostgreSQL it travels as JSON text), and the transaction remembers it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('credit totals on PostgreSQL');
const T = 1_796_622_510_507;

// Doubles whose shortest decimal text has 17 digits, a subnormal, and a whole number.
const AVERAGES = [0.1 + 0.2, 1 / 3, 5e-324, 2 ** 53 + 2, 123.456e-7];

const backends = storeBackends(skipPostgres);

for (const backend of backends) {
  describe.skipIf(backend.skip)(`holders' credit written together on ${backend.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;
    const hosts: number[] = [];

    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      const user = (await store.sql.get<{ id: number }>('INSERT INTO users (name, created_at) VALUES (?, ?) RETURNING id', ['u', T]))!.id;
      for (let i = 0; i < AVERAGES.length; i++) {
        const row = await store.sql.get<{ id: number }>(
          `INSERT INTO hosts (public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at)
           VALUES (?, ?, 'node', 'node', '{}', '{}', ?, ?) RETURNING id`,
          [`key${i}`, user, T, T],
        );
        hosts.push(row!.id);
      }
    });
    afterAll(async () => dispose?.());

    it('adds each total and stores each average to the last bit, and the transaction reads back what it wrote', async () => {
      const credits = hosts.map((id, i) => ({ id, micro: 1_000_000 * (i + 1) + 7, avg: { rac: AVERAGES[i]!, time: T + i } }));
      await store.transaction(async (tx) => {
        await tx.identities.addCredits('hosts', credits);
        for (const c of credits) expect(await tx.identities.creditAverage('hosts', c.id)).toEqual(c.avg);
      });
      // Again, taking some back: totals add, averages are replaced.
      await store.transaction((tx) => tx.identities.addCredits('hosts', credits.map((c) => ({ ...c, micro: -3, avg: { rac: c.avg.rac * 2, time: c.avg.time + 1 } }))));
      const rows = await store.sql.all<{ id: number; total: number; rac: number; time: number }>(
        'SELECT id, total_credit_micro AS total, rac, rac_time AS time FROM hosts ORDER BY id',
      );
      expect(rows).toEqual(credits.map((c) => ({ id: c.id, total: c.micro - 3, rac: c.avg.rac * 2, time: c.avg.time + 1 })));
    });

    it('writes nothing for no holder, and one holder as the single statement does', async () => {
      await store.transaction((tx) => tx.identities.addCredits('hosts', []));
      await store.transaction((tx) => tx.identities.addCredits('hosts', [{ id: hosts[0]!, micro: 3, avg: { rac: 0.5, time: T + 100 } }]));
      expect(await store.sql.get('SELECT total_credit_micro AS total, rac FROM hosts WHERE id = ?', [hosts[0]!])).toEqual({ total: 1_000_007, rac: 0.5 });
    });
  });
}
