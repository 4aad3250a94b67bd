// Accounts behave the same on both backends of the store contract, and instances racing on one
// PostgreSQL database create the first admin once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountError, AccountService } from '../../coordinator/accounts/account-service.js';
import { migratePostgres } from '../../coordinator/store/postgres/migrate.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import type { SqlDatabase } from '../../coordinator/store/sql/sql.js';
import { createTestDatabase, skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('accounts on PostgreSQL');

// The accounts run on the store's SQL layer, as AccountService does.
const backends = storeBackends(skipPostgres).map((b) => ({
  ...b,
  open: async () => {
    const { store, dispose } = await b.open();
    return { db: store.sql, dispose };
  },
}));

for (const backend of backends) {
  describe.skipIf(backend.skip)(`accounts on ${backend.name}`, () => {
    let db: SqlDatabase;
    let dispose: () => Promise<void>;
    let now = 1_000_000;
    let accounts: AccountService;

    beforeAll(async () => {
      ({ db, dispose } = await backend.open());
      accounts = new AccountService(db, () => now);
    });
    afterAll(async () => dispose?.());

    it('creates the first admin once, with the password given', async () => {
      const first = await accounts.ensureFirstAdmin('first-admin-password');
      expect(first).toEqual({ name: 'admin', password: 'first-admin-password', generated: false });
      expect(await accounts.ensureFirstAdmin()).toBeUndefined();
      expect((await accounts.list()).map((a) => [a.name, a.role])).toEqual([['admin', 'admin']]);
    });

    it('refuses a second account of the same name whatever its case', async () => {
      const { account, password } = await accounts.create({ name: 'Ada' });
      expect(account).toMatchObject({ name: 'Ada', role: 'researcher', disabled: false, createdAt: now });
      expect(password).toMatch(/.{12,}/);
      await expect(accounts.create({ name: 'ada', password: 'another-password' })).rejects.toMatchObject({ constructor: AccountError, code: 'conflict' });
      expect((await accounts.byName('ADA'))?.id).toBe(account.id);
    });

    it('logs in, keeps sessions until they expire, and ends them and every token with a new password', async () => {
      const { account } = await accounts.create({ name: 'grace', password: 'grace-password-1' });
      expect(await accounts.login('grace', 'wrong-password')).toBeUndefined();
      const laptop = (await accounts.login('Grace', 'grace-password-1'))!;
      const phone = (await accounts.login('grace', 'grace-password-1'))!;
      expect((await accounts.session(laptop.token))?.account.id).toBe(account.id);
      const token = await accounts.createToken(account.id, 'script');
      expect((await accounts.accountByToken(token.token))?.tokenId).toBe(token.id);
      expect((await accounts.tokens(account.id)).map((t) => t.name)).toEqual(['script']);

      await expect(accounts.changePassword(account.id, 'not-it', 'grace-password-2', laptop.token)).rejects.toMatchObject({ code: 'forbidden' });
      await accounts.changePassword(account.id, 'grace-password-1', 'grace-password-2', laptop.token);
      expect(await accounts.session(laptop.token)).toBeDefined();
      expect(await accounts.session(phone.token)).toBeUndefined();
      expect(await accounts.accountByToken(token.token)).toBeUndefined();
      expect(await accounts.login('grace', 'grace-password-1')).toBeUndefined();

      now += 8 * 24 * 3600 * 1000;
      expect(await accounts.session(laptop.token)).toBeUndefined();
    });

    it('disables an account: its sessions and tokens stop working; updates of a missing one are refused', async () => {
      const { account } = await accounts.create({ name: 'hopper', password: 'hopper-password' });
      const session = (await accounts.login('hopper', 'hopper-password'))!;
      const token = await accounts.createToken(account.id, 'ci');
      expect(await accounts.update(account.id, { disabled: true, role: 'admin' })).toMatchObject({ disabled: true, role: 'admin' });
      expect(await accounts.session(session.token)).toBeUndefined();
      expect(await accounts.accountByToken(token.token)).toBeUndefined();
      expect(await accounts.login('hopper', 'hopper-password')).toBeUndefined();
      await expect(accounts.update(9999, { disabled: true })).rejects.toMatchObject({ code: 'not_found' });
      expect(await accounts.revokeToken(account.id, token.id)).toBe(false);
    });
  });
}

describe.skipIf(skipPostgres)('instances starting together on one new PostgreSQL database', () => {
  it('create one first admin between them, and only its creator shows a password', async () => {
    const database = await createTestDatabase();
    const instances = Array.from({ length: 4 }, () => new PostgresDatabase({ connectionString: database.url, max: 2 }));
    try {
      await Promise.all(instances.map((db) => migratePostgres(db)));
      const outcomes = await Promise.all(instances.map((db) => new AccountService(db).ensureFirstAdmin()));
      const created = outcomes.filter((o) => o !== undefined);
      expect(created).toHaveLength(1);
      expect(created[0]).toMatchObject({ name: 'admin', generated: true });
      const admins = await instances[0]!.all<{ name: string }>("SELECT name FROM researchers WHERE role = 'admin'");
      expect(admins).toEqual([{ name: 'admin' }]);
      expect(await new AccountService(instances[1]!).login('admin', created[0]!.password)).toBeDefined();
    } finally {
      await Promise.all(instances.map((db) => db.close()));
      await database.drop();
    }
  });
});
