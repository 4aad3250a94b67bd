// Who a connecting host is: proof of its key, its user (anonymous or by account key), its team.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Ed25519 } from '../../protocol/ed25519.js';
import type { Hello } from '../../protocol/messages.js';
import { verifyBody } from '../../protocol/signing.js';
import type { HostRecord } from '../store/identities.js';
import type { Store } from '../store/store.js';
import { platformClass } from '../work/app-matching.js';

export const AccountSpecSchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  team: z.string().trim().min(1).max(64).optional(),
});

export class UnknownAccountError extends Error {
  override name = 'UnknownAccountError';
}

const hashKey = (accountKey: string) => createHash('sha256').update(accountKey).digest('hex');

export class HostRegistry {
  constructor(
    private readonly store: Store,
    private readonly ed: Ed25519,
    private readonly coordinatorKey: string,
    /** This instance, recorded as the one the host is connected to (null: a core on its own). */
    private readonly instance: string | null = null,
  ) {}

  newChallenge(): string {
    return randomBytes(32).toString('hex');
  }

  /** The signature binds the nonce, the host key and this coordinator's key (no relaying). */
  proves(hello: Hello, nonce: string, signature: string): boolean {
    return verifyBody(this.ed, hello.hostKey, 'auth', { nonce, hostKey: hello.hostKey, coordinatorKey: this.coordinatorKey }, signature);
  }

  /** The id of the host with this key, if it has connected before. */
  async hostIdOf(hostKey: string): Promise<number | undefined> {
    return (await this.store.identities.hostByKey(hostKey))?.id;
  }

  /**
   * Creates or updates the host, as connected to this instance. Without an account key a new host
   * gets an anonymous user of its own.
   */
  async register(hello: Hello, now: number): Promise<HostRecord> {
    return await this.store.transaction(async (tx) => {
      const { identities } = tx;
      const existing = await identities.hostByKey(hello.hostKey);
      let userId: number;
      if (hello.accountKey !== undefined) {
        const user = await identities.userByAccountKeyHash(hashKey(hello.accountKey));
        if (!user) throw new UnknownAccountError('no account has this account key');
        userId = user.id;
      } else {
        userId = existing?.userId ?? (await identities.insertUser({ name: hello.name ?? 'anonymous', accountKeyHash: null, teamId: null, now }));
      }
      const fields = {
        userId,
        name: hello.name ?? null,
        platform: hello.platform,
        platformClass: platformClass(hello.platform),
        capabilities: hello.capabilities,
        now,
        instance: this.instance,
      };
      const id = existing ? ((await identities.updateHost(existing.id, fields)), existing.id) : (await identities.insertHost({ publicKey: hello.hostKey, ...fields }));
      return (await identities.hostById(id))!;
    });
  }

  /** A volunteer account: its secret key links any number of hosts, so their credit adds up. */
  async createAccount(spec: z.infer<typeof AccountSpecSchema>, now = Date.now()): Promise<{ userId: number; accountKey: string }> {
    const accountKey = randomBytes(24).toString('base64url');
    const userId = await this.store.transaction(async (tx) => {
      const teamId = spec.team === undefined ? null : (await tx.identities.teamIdByName(spec.team, now));
      return await tx.identities.insertUser({ name: spec.name, accountKeyHash: hashKey(accountKey), teamId, now });
    });
    return { userId, accountKey };
  }
}
