// HTTP for volunteers and anyone auditing: the coordinator's key, content-addressed files,
// app version manifests, volunteer accounts and the credit ledger.
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { MAX_FILE_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../protocol/limits.js';
import { WELL_KNOWN_PATH, type WellKnown } from '../../protocol/discovery.js';
import { GENESIS_HASH } from '../../protocol/ledger.js';
import { Hex32, Hex64, type LedgerPage } from '../../protocol/messages.js';
import { verifyBody } from '../../protocol/signing.js';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { apiErrorHandler, sendError } from '../api/api-error.js';
import { abandon } from '../api/body.js';
import { jsonBody } from '../api/json-body.js';
import type { BlobStore } from '../files/blob-store.js';
import type { OutputUploads } from '../files/output-uploads.js';
import type { Logger } from '../../common/log.js';
import type { Store } from '../store/store.js';
import { AccountSpecSchema, type HostRegistry } from '../volunteers/host-registry.js';
import { VOLUNTEER_NAMESPACE } from '../volunteers/namespace.js';
import { volunteerCors } from './volunteer-cors.js';

export { WELL_KNOWN_PATH };

interface RouteDeps {
  store: Store;
  blobs: BlobStore;
  uploads: OutputUploads;
  registry: HostRegistry;
  ed: Ed25519;
  coordinatorKey: string;
  /** Every instance's public URL (--cluster-urls), when several serve this coordinator. */
  instances?: readonly string[];
  log: Logger;
}


/** The task an upload is the output of: a positive integer. */
const TaskIdHeader = z.string().regex(/^[1-9][0-9]{0,15}$/).transform(Number).pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER));

const LedgerQuery = z.strictObject({
  after: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export function volunteerRoutes(deps: RouteDeps): express.Router {
  const { store, blobs, uploads, registry, ed, coordinatorKey, instances, log } = deps;
  const router = express.Router();
  router.use([WELL_KNOWN_PATH, '/files', '/app-versions'], volunteerCors);

  const wellKnown: WellKnown = {
    software: 'volunteer-grid',
    protocol: PROTOCOL_VERSION,
    coordinatorKey,
    volunteerNamespace: VOLUNTEER_NAMESPACE,
    limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxFileBytes: MAX_FILE_BYTES, maxOutputBytes: uploads.maxBytes },
    ...(instances === undefined ? {} : { instances: [...instances] }),
  };
  router.get(WELL_KNOWN_PATH, (_req, res) => {
    res.json(wellKnown);
  });

  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  // App files and large inputs, which volunteers need, to anyone. Uploaded outputs are not
  // served here: researchers get them through the API, which checks who they are.
  router.get('/files/:hash', async (req, res) => {
    const hash = Hex32.safeParse(req.params.hash);
    if (!hash.success) return sendError(res, 'bad_request', 'a file is named by its SHA-256: 64 lower-case hex digits');
    if ((await store.catalog.publicFileSize(hash.data)) === undefined || !blobs.has(hash.data)) return sendError(res, 'not_found', 'no such file');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', `"${hash.data}"`);
    res.type('application/octet-stream');
    // dotfiles: the path is built from a checked hash, but the data dir may sit under ~/.local.
    res.sendFile(blobs.pathOf(hash.data), { dotfiles: 'allow' });
  });

  // Large outputs: a host uploads the output of a task of its own, signed, before reporting the
  // result. Who uploads, for which task, and how much, is checked from the headers before a byte
  // of the body is read.
  const uploadAllowed = async (req: Request, res: Response, next: NextFunction) => {
    const hash = Hex32.safeParse(req.params.hash);
    const hostKey = Hex32.safeParse(req.get('x-vg-host-key'));
    const taskId = TaskIdHeader.safeParse(req.get('x-vg-task-id'));
    const signature = Hex64.safeParse(req.get('x-vg-signature'));
    res.setHeader('Connection', 'close'); // a refused body is not read
    if (!hash.success) return sendError(res, 'bad_request', 'a file is named by its SHA-256: 64 lower-case hex digits');
    if (!hostKey.success || !signature.success || !taskId.success) {
      return sendError(res, 'unauthenticated', 'uploads need X-VG-Host-Key, X-VG-Task-Id and X-VG-Signature headers (see docs/protocol.md)');
    }
    const host = await store.identities.hostByKey(hostKey.data);
    if (!host) return sendError(res, 'forbidden', 'unknown host key; connect as a volunteer first');
    if (!verifyBody(ed, hostKey.data, 'upload', { hostKey: hostKey.data, sha256: hash.data, taskId: taskId.data }, signature.data)) {
      return sendError(res, 'forbidden', 'the upload signature does not verify');
    }
    const refused = await uploads.refusal(store, host.id, taskId.data, hash.data);
    if (refused) return sendError(res, refused.code, refused.message);
    if (Number(req.get('content-length')) > uploads.maxBytes) {
      return sendError(res, 'too_large', `the output is larger than ${uploads.maxBytes} bytes (the coordinator's --max-output-bytes)`);
    }
    if ((req.get('content-encoding') ?? 'identity').trim().toLowerCase() !== 'identity') {
      return sendError(res, 'bad_request', 'send the output uncompressed (no Content-Encoding): its bytes are what is hashed');
    }
    res.removeHeader('Connection');
    res.locals.upload = { hostId: host.id, taskId: taskId.data, sha256: hash.data };
    next();
  };

  // Only outputs are uploaded, and only the exact bytes of canonicalJson count as one: the
  // results export copies them into researchers' downloads as they are.
  router.put('/files/:hash', uploadAllowed, async (req, res) => {
    const { hostId, taskId, sha256 } = res.locals.upload as { hostId: number; taskId: number; sha256: string };
    // Not destroyed if the loop ends early: the answer goes out on the request's socket.
    const body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
    let stored: Awaited<ReturnType<OutputUploads['upload']>>;
    try {
      stored = await uploads.upload(hostId, taskId, sha256, body, Date.now);
    } catch (e) {
      abandon(req);
      if (!req.complete) return sendError(res, 'bad_request', `the upload was cut off: ${(e as Error).message}`);
      throw e;
    }
    if ('code' in stored) {
      if (!req.complete) {
        res.setHeader('Connection', 'close');
        abandon(req);
      }
      return sendError(res, stored.code, stored.message);
    }
    res.status(201).json({ sha256, size: stored.size });
  });

  router.get('/app-versions/:hash', async (req, res) => {
    const hash = Hex32.safeParse(req.params.hash);
    if (!hash.success) return sendError(res, 'bad_request', 'an app version is named by its bundle hash: 64 lower-case hex digits');
    const v = await store.catalog.versionByHash(hash.data);
    if (!v) return sendError(res, 'not_found', 'no such app version');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.json({ bundleHash: v.bundleHash, manifest: v.manifest, signature: v.signature, platform: v.platform, requirements: v.requirements });
  });

  router.post('/api/v1/accounts', jsonBody(16 * 1024, 'bad_request'), async (req, res) => {
    const spec = AccountSpecSchema.safeParse(req.body);
    if (!spec.success) return sendError(res, 'bad_request', z.prettifyError(spec.error));
    res.status(201).json(await registry.createAccount(spec.data));
  });

  router.get('/api/v1/ledger', async (req, res) => {
    const q = LedgerQuery.safeParse(req.query);
    if (!q.success) return sendError(res, 'bad_request', z.prettifyError(q.error));
    const entries = await store.ledger.entriesAfter(q.data.after, q.data.limit);
    // Read from the entry before, not copied from the first entry: a page then checks its own
    // first link, and entry 1 links to the genesis hash like any other entry to its predecessor.
    const prevHash = entries.length > 0 ? ((await store.ledger.hashBefore(entries[0]!.entryId)) ?? GENESIS_HASH) : null;
    const page: LedgerPage = { coordinatorKey, prevHash, entries };
    res.json(page);
  });

  // Express 5 passes thrown errors and body-parser failures here: answered as the API answers them.
  router.use(apiErrorHandler(log));

  return router;
}
