// HTTP for volunteers and anyone auditing: the coordinator's key, content-addressed files,
// app version manifests, volunteer accounts and the credit ledger.
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { MAX_FILE_BYTES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from '../../protocol/limits.js';
import { GENESIS_HASH } from '../../protocol/ledger.js';
import { Hex32, Hex64, type LedgerPage } from '../../protocol/messages.js';
import { verifyBody } from '../../protocol/signing.js';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { apiErrorHandler, sendError } from '../api/api-error.js';
import { jsonBody } from '../api/json-body.js';
import type { BlobStore } from '../files/blob-store.js';
import { OutputFiles } from '../files/output-files.js';
import type { Logger } from '../../common/log.js';
import type { Store } from '../store/store.js';
import { AccountSpecSchema, type HostRegistry } from '../volunteers/host-registry.js';
import { VOLUNTEER_NAMESPACE } from '../volunteers/namespace.js';

export const WELL_KNOWN_PATH = '/.well-known/volunteer-grid.json';

interface RouteDeps {
  store: Store;
  blobs: BlobStore;
  outputs: OutputFiles;
  registry: HostRegistry;
  ed: Ed25519;
  coordinatorKey: string;
  log: Logger;
}


const LedgerQuery = z.strictObject({
  after: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export function volunteerRoutes(deps: RouteDeps): express.Router {
  const { store, blobs, outputs, registry, ed, coordinatorKey, log } = deps;
  const router = express.Router();

  router.get(WELL_KNOWN_PATH, (_req, res) => {
    res.json({
      software: 'volunteer-grid',
      protocol: PROTOCOL_VERSION,
      coordinatorKey,
      volunteerNamespace: VOLUNTEER_NAMESPACE,
      limits: { maxMessageBytes: MAX_MESSAGE_BYTES, maxFileBytes: MAX_FILE_BYTES },
    });
  });

  router.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  router.get('/files/:hash', (req, res) => {
    const hash = Hex32.safeParse(req.params.hash);
    if (!hash.success) return sendError(res, 'bad_request', 'a file is named by its SHA-256: 64 lower-case hex digits');
    if (store.catalog.fileSize(hash.data) === undefined || !blobs.has(hash.data)) return sendError(res, 'not_found', 'no such file');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('ETag', `"${hash.data}"`);
    res.type('application/octet-stream');
    res.sendFile(blobs.pathOf(hash.data));
  });

  // Large outputs: a known host uploads the file, signed, before reporting the result.
  // Who uploads, and what, is checked from the headers before a byte of the body is read.
  const uploadAllowed = (req: Request, res: Response, next: NextFunction) => {
    const hash = Hex32.safeParse(req.params.hash);
    const hostKey = Hex32.safeParse(req.get('x-vg-host-key'));
    const signature = Hex64.safeParse(req.get('x-vg-signature'));
    res.setHeader('Connection', 'close'); // a refused body is not read
    if (!hash.success) return sendError(res, 'bad_request', 'a file is named by its SHA-256: 64 lower-case hex digits');
    if (!hostKey.success || !signature.success) {
      return sendError(res, 'unauthenticated', 'uploads need X-VG-Host-Key and X-VG-Signature headers (see docs/protocol.md)');
    }
    if (!store.identities.hostByKey(hostKey.data)) return sendError(res, 'forbidden', 'unknown host key; connect as a volunteer first');
    if (!verifyBody(ed, hostKey.data, 'upload', { hostKey: hostKey.data, sha256: hash.data }, signature.data)) {
      return sendError(res, 'forbidden', 'the upload signature does not verify');
    }
    res.removeHeader('Connection');
    next();
  };

  // Only outputs are uploaded, and only the exact bytes of canonicalJson count as one: the
  // results export copies them into researchers' downloads as they are.
  router.put('/files/:hash', uploadAllowed, express.raw({ type: () => true, limit: MAX_FILE_BYTES }), async (req, res) => {
    const hash = Hex32.parse(req.params.hash);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const problem = await OutputFiles.uploadProblem(body);
    if (problem !== undefined) {
      return sendError(res, 'bad_request', `the body is not canonical JSON (an output is uploaded as the exact bytes of its canonical JSON; docs/protocol.md §1): ${problem}`);
    }
    try {
      outputs.storeUpload(body, hash, Date.now());
    } catch (e) {
      return sendError(res, 'bad_request', (e as Error).message);
    }
    res.status(201).json({ sha256: hash, size: body.length });
  });

  router.get('/app-versions/:hash', (req, res) => {
    const hash = Hex32.safeParse(req.params.hash);
    if (!hash.success) return sendError(res, 'bad_request', 'an app version is named by its bundle hash: 64 lower-case hex digits');
    const v = store.catalog.versionByHash(hash.data);
    if (!v) return sendError(res, 'not_found', 'no such app version');
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.json({ bundleHash: v.bundleHash, manifest: v.manifest, signature: v.signature, platform: v.platform, requirements: v.requirements });
  });

  router.post('/api/v1/accounts', jsonBody(16 * 1024, 'bad_request'), (req, res) => {
    const spec = AccountSpecSchema.safeParse(req.body);
    if (!spec.success) return sendError(res, 'bad_request', z.prettifyError(spec.error));
    res.status(201).json(registry.createAccount(spec.data));
  });

  router.get('/api/v1/ledger', (req, res) => {
    const q = LedgerQuery.safeParse(req.query);
    if (!q.success) return sendError(res, 'bad_request', z.prettifyError(q.error));
    const entries = store.ledger.entriesAfter(q.data.after, q.data.limit);
    // Read from the entry before, not copied from the first entry: a page then checks its own
    // first link, and entry 1 links to the genesis hash like any other entry to its predecessor.
    const prevHash = entries.length > 0 ? (store.ledger.hashBefore(entries[0]!.entryId) ?? GENESIS_HASH) : null;
    const page: LedgerPage = { coordinatorKey, prevHash, entries };
    res.json(page);
  });

  // Express 5 passes thrown errors and body-parser failures here: answered as the API answers them.
  router.use(apiErrorHandler(log));

  return router;
}
