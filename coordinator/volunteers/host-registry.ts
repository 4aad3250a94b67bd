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
  ) {}

  newChallenge(): string {
    return randomBytes(32).toString('hex');
  }

  /** The signature binds the nonce, the host key and this coordinator's key (no relaying). */
  proves(hello: Hello, nonce: string, signature: string): boolean {
    return verifyBody(this.ed, hello.hostKey, 'auth', { nonce, hostKey: hello.hostKey, coordinatorKey: this.coordinatorKey }, signature);
  }

  /** The id of the host with this key, if it has connected before. */
  hostIdOf(hostKey: string): number | undefined {
    return this.store.identities.hostByKey(hostKey)?.id;
  }

  /** Creates or updates the host. Without an account key a new host gets an anonymous user of its own. */
  register(hello: Hello, now: number): HostRecord {
    return this.store.transaction(() => {
      const { identities } = this.store;
      const existing = identities.hostByKey(hello.hostKey);
      let userId: number;
      if (hello.accountKey !== undefined) {
        const user = identities.userByAccountKeyHash(hashKey(hello.accountKey));
        if (!user) throw new UnknownAccountError('no account has this account key');
        userId = user.id;
      } else {
        userId = existing?.userId ?? identities.insertUser({ name: hello.name ?? 'anonymous', accountKeyHash: null, teamId: null, now });
      }
      const fields = {
        userId,
        name: hello.name ?? null,
        platform: hello.platform,
        platformClass: platformClass(hello.platform),
        capabilities: hello.capabilities,
        now,
      };
      const id = existing ? (identities.updateHost(existing.id, fields), existing.id) : identities.insertHost({ publicKey: hello.hostKey, ...fields });
      return identities.hostById(id)!;
    });
  }

  /** A volunteer account: its secret key links any number of hosts, so their credit adds up. */
  createAccount(spec: z.infer<typeof AccountSpecSchema>, now = Date.now()): { userId: number; accountKey: string } {
    const accountKey = randomBytes(24).toString('base64url');
    const userId = this.store.transaction(() => {
      const teamId = spec.team === undefined ? null : this.store.identities.teamIdByName(spec.team, now);
      return this.store.identities.insertUser({ name: spec.name, accountKeyHash: hashKey(accountKey), teamId, now });
    });
    return { userId, accountKey };
  }
}
