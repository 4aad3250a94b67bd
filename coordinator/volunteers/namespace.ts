// The Socket.IO namespace for volunteers: parse each message with its schema, call one
// service method, reply. docs/protocol.md describes every message.
import type { Namespace, Server, Socket } from 'socket.io';
import { z } from 'zod';
import { nestsDeeperThan } from '../../protocol/json-depth.js';
import {
  MAX_FILE_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_MESSAGE_NESTING,
  MAX_RESULTS_PER_REPORT,
  MAX_TASKS_PER_REQUEST,
  MAX_VERDICTS_PER_REQUEST,
  SUPPORTED_PROTOCOL_VERSIONS,
  type ProtocolVersion,
} from '../../protocol/limits.js';
import {
  AuthSchema,
  GiveBackSchema,
  HelloSchema,
  ProgressSchema,
  ReceiptsRequestSchema,
  ResultsReportSchema,
  ResultsReportV3Schema,
  TasksRequestSchema,
  VerdictsRequestSchema,
  type ErrorCode,
  type Hello,
  type Reply,
} from '../../protocol/messages.js';
import { errorFields, type Logger } from '../../common/log.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Tx } from '../store/store.js';
import type { HostNotifier } from '../work/outbox.js';
import { RateLimiter, whenTaken, type RateLimit, type TokenBucket } from '../http/rate-limit.js';
import { UnknownAccountError, type HostRegistry } from './host-registry.js';
import type { VolunteerService } from './volunteer-service.js';

export const VOLUNTEER_NAMESPACE = '/volunteer';
export const HEARTBEAT_INTERVAL_MS = 30_000;
/** Suggested wait before asking again when there is no work. */
/** How long a host that found no work waits before it asks again, unless told of new work first. */
export const NO_WORK_RETRY_MS = 10_000;
/** Sockets whose last ask for work came back empty: told at once when new work appears. */
const IDLE_ROOM = 'idle';
/** At most one "tasks.available" push per this long: a burst of new replicas tells idle hosts once. */
const AVAILABLE_PUSH_MS = 500;

const fail = (code: ErrorCode, message: string): Reply<never> => ({ ok: false, error: { code, message } });
const EmptySchema = z.strictObject({}).default({});
export const hostRoom = (hostId: number) => `host:${hostId}`;

interface Session {
  nonce?: string;
  hello?: Hello;
  /** The version its hello spoke: how its tasks and results are signed (one by one in 2, as a list in 3). */
  protocol?: ProtocolVersion;
  hostId?: number;
  /** The host whose room (pushes, presence, connection count) this socket is in. */
  roomHostId?: number;
}

export function attachVolunteerNamespace(
  io: Server,
  deps: {
    registry: HostRegistry;
    service: VolunteerService;
    /** Authenticated hosts' messages share a commit with the others of their event-loop turn. */
    commits: GroupCommit;
    coordinatorKey: string;
    log: Logger;
    presence?: { joined(hostId: number): void; left(hostId: number): void };
    /** Per connection. */
    messageLimit?: RateLimit;
    /** Per host, over all its connections: more connections buy no more messages. */
    hostMessageLimit?: RateLimit;
    /** Makes the per-host limiter: in a cluster its budget is shared by every instance (a host may connect to several). */
    sharedLimiter?: (name: string, limit: RateLimit) => TokenBucket;
    /** Connections one host may have authenticated at once (unlimited when absent). */
    connectionsPerHost?: number;
    /** A host's connections to every instance (a cluster's count); this instance's own rooms when absent. */
    connectionsEverywhere?: (hostId: number) => Promise<number>;
    /** What a host that found no work is told to wait (NO_WORK_RETRY_MS by default). */
    idleRetryMs?: number;
    /** The largest output a task may upload (--max-output-bytes), told to hosts at auth. */
    maxOutputBytes?: number;
    /** Told of every answered message (for metrics): its event, payload, answer and seconds from arrival to answer. */
    observe?: (event: string, payload: unknown, reply: Reply<object>, seconds: number) => void;
  },
): Namespace {
  const { registry, service, commits, coordinatorKey, log } = deps;
  const nsp = io.of(VOLUNTEER_NAMESPACE);
  const hostLimit = deps.hostMessageLimit ?? { perSecond: 0, burst: 0 };
  const hostMessages = deps.sharedLimiter?.('host-messages', hostLimit) ?? new RateLimiter(hostLimit);
  const connectionsOf = (hostId: number) => nsp.adapter.rooms.get(hostRoom(hostId))?.size ?? 0;

  nsp.on('connection', (socket: Socket) => {
    const session: Session = {};
    const messages = new RateLimiter(deps.messageLimit ?? { perSecond: 0, burst: 0 });

    const known = new Set<string>();
    // Socket.IO puts the acknowledgement callback last, after however many arguments were sent.
    const ackOf = (args: unknown[]) => {
      const last = args[args.length - 1];
      return typeof last === 'function' ? (last as (r: Reply<object>) => void) : undefined;
    };
    socket.onAny((event: string, ...args: unknown[]) => {
      if (known.has(event)) return;
      const message = `unknown event "${String(event).slice(0, 64)}"; docs/protocol.md lists the messages`;
      const ack = ackOf(args);
      if (ack) ack(fail('bad_request', message));
      else socket.emit('protocol.error', { code: 'bad_request', message });
    });

    /** `schema` may be chosen when a message arrives: a message's shape may depend on the session's protocol version. */
    function on<S extends z.ZodType>(
      event: string,
      schema: S | (() => S),
      handler: (msg: z.infer<S>) => Reply<object> | Promise<Reply<object>>,
      needsAuth = true,
    ): void {
      known.add(event);
      socket.on(event, (...args: unknown[]) => {
        const ack = ackOf(args);
        if (!ack) {
          socket.emit('protocol.error', { code: 'bad_request', message: `"${event}" must be sent with an acknowledgement callback` });
          return;
        }
        const arrived = performance.now();
        const observe = deps.observe;
        const reply = observe
          ? (answer: Reply<object>) => {
              observe(event, args.length === 2 ? args[0] : undefined, answer, (performance.now() - arrived) / 1000);
              ack(answer);
            }
          : ack;
        if (!messages.take('socket')) return reply(fail('rate_limited', `too many messages on this connection; slow down`));
        if (args.length > 2) return reply(fail('bad_request', `"${event}" takes one payload, not ${args.length - 1}`));
        if (needsAuth && session.hostId === undefined) return reply(fail('unauthenticated', `send hello and auth before "${event}"`));
        const failed = (e: unknown) => {
          log.error('volunteer message failed', { event, hostId: session.hostId, ...errorFields(e) });
          reply(fail('internal', `the coordinator could not handle "${event}"; nothing was changed, try again`));
        };
        const handle = () => {
          const payload = args.length === 2 ? args[0] : undefined;
          // Checked without recursion first: the schema recurses once per level.
          if (nestsDeeperThan(payload, MAX_MESSAGE_NESTING)) return reply(fail('bad_request', `${event}: nested deeper than ${MAX_MESSAGE_NESTING} levels`));
          let parsed: z.ZodSafeParseResult<z.infer<S>>;
          try {
            parsed = (typeof schema === 'function' ? schema() : schema).safeParse(payload);
          } catch (e) {
            return reply(fail('bad_request', `${event}: the message could not be checked (${(e as Error).message})`));
          }
          if (!parsed.success) return reply(fail('bad_request', `${event}: ${z.prettifyError(parsed.error)}`));
          try {
            const answer = handler(parsed.data);
            if (answer instanceof Promise) answer.then(reply, failed);
            else reply(answer);
          } catch (e) {
            failed(e);
          }
        };
        if (session.hostId === undefined) return handle();
        // A shared budget answers through Redis, in the order asked: a connection's messages keep their order.
        whenTaken(hostMessages.take(String(session.hostId)), handle, () => reply(fail('rate_limited', 'too many messages from this host over all its connections; slow down')), failed);
      });
    }

    /** A message of an authenticated host, handled in its turn's group commit as that host. */
    function onHost<S extends z.ZodType>(
      event: string,
      schema: S | (() => S),
      handler: (msg: z.infer<S>, hostId: number, tx: Tx, protocol: ProtocolVersion) => Promise<Reply<object>>,
    ): void {
      on(event, schema, (msg) => {
        // Captured now: a hello on this socket before the group runs must not change who this was, nor what it spoke.
        const hostId = session.hostId!;
        const protocol = session.protocol!;
        return inTurn(() =>
          commits.run(async (tx) => {
            service.heard(hostId);
            return handler(msg, hostId, tx, protocol);
          }),
        );
      });
    }

    /**
     * As onHost, after a step that needs no transaction (checking signatures on other threads): it
     * starts as the message arrives, and the message joins a group once it is done, so neither
     * that group's transaction nor the messages sharing it wait for the step.
     */
    function onHostAfter<S extends z.ZodType, P>(
      event: string,
      schema: S | (() => S),
      before: (msg: z.infer<S>) => Promise<P>,
      handler: (msg: z.infer<S>, hostId: number, tx: Tx, prepared: P) => Promise<Reply<object>>,
    ): void {
      on(event, schema, (msg) => {
        const hostId = session.hostId!;
        // Settled either way, never rejected: a failure is thrown in the transaction, below.
        const prepared = (async () => {
          try {
            return { ok: true as const, value: await before(msg) };
          } catch (error) {
            return { ok: false as const, error };
          }
        })();
        return inTurnAfter(prepared, () =>
          commits.run(async (tx) => {
            service.heard(hostId);
            const step = await prepared;
            // Failed as it would have inside the transaction, where the step once ran: this
            // message's savepoint undone, its failure answered in its turn.
            if (!step.ok) throw step.error;
            return handler(msg, hostId, tx, step.value);
          }),
        );
      });
    }

    // A connection's messages join the group commit in the order they came, so they are answered
    // in that order: one waiting for a step before its transaction (onHostAfter) holds back the
    // connection's later messages until it has joined. With none waiting, a message joins at once.
    let queued = 0;
    let tail: Promise<void> = Promise.resolve();
    /** Calls enter (which must join the group commit at once) in this connection's turn, once `ready` has settled (it never rejects). */
    function inTurnAfter<T>(ready: Promise<unknown>, enter: () => Promise<T>): Promise<T> {
      queued += 1;
      const turn = Promise.all([tail, ready]).then(() => void (queued -= 1));
      tail = turn;
      // Registered before the next message's wait on `turn`, so this message joins first.
      return turn.then(enter);
    }
    /** Calls enter at once when none of the connection's messages waits for its turn, else after them. */
    function inTurn<T>(enter: () => Promise<T>): Promise<T> {
      return queued === 0 ? enter() : inTurnAfter(Promise.resolve(), enter);
    }

    on(
      'hello',
      z.unknown(),
      (raw) => {
        const version = (raw as { protocol?: unknown } | null)?.protocol;
        if (!SUPPORTED_PROTOCOL_VERSIONS.includes(version as ProtocolVersion)) {
          const older = typeof version === 'number' && version < SUPPORTED_PROTOCOL_VERSIONS[0];
          return fail(
            'unsupported_protocol',
            `this coordinator speaks protocol ${SUPPORTED_PROTOCOL_VERSIONS.join(' or ')}, not ${String(version)}` +
              (older ? ': update this volunteer (a page: reload it; the daemon: update its clone or package and start it again)' : ''),
          );
        }
        const parsed = HelloSchema.safeParse(raw);
        if (!parsed.success) return fail('bad_request', `hello: ${z.prettifyError(parsed.error)}`);
        session.hello = parsed.data;
        session.protocol = parsed.data.protocol;
        session.nonce = registry.newChallenge();
        session.hostId = undefined;
        leaveHostRoom(); // until auth says who this socket is now
        void socket.leave(IDLE_ROOM);
        // The version it spoke: a protocol-2 client is answered as before.
        return { ok: true, challenge: session.nonce, coordinatorKey, protocol: parsed.data.protocol };
      },
      false,
    );

    on(
      'auth',
      AuthSchema,
      async ({ signature }) => {
        const { hello, nonce } = session;
        if (!hello || !nonce) return fail('unauthenticated', 'send hello first to get a challenge');
        session.nonce = undefined; // one attempt per challenge
        if (!registry.proves(hello, nonce, signature)) return fail('unauthenticated', 'the challenge signature does not verify with hostKey');
        const known = await registry.hostIdOf(hello.hostKey);
        const max = deps.connectionsPerHost;
        // This socket left any room at hello, so it is not among these.
        const everywhere = deps.connectionsEverywhere ?? (async (id: number) => connectionsOf(id));
        if (known !== undefined && max !== undefined && (await everywhere(known)) >= max) {
          return fail('rate_limited', `this host already has ${max} connection${max === 1 ? '' : 's'} open; close one before opening another`);
        }
        try {
          const host = await registry.register(hello, Date.now());
          // A hello on this socket while the host was registered starts over: that one wins.
          if (session.hello !== hello) return fail('unauthenticated', 'a newer hello on this connection replaced this one; send auth for it');
          // Closed while the host was registered: its disconnect has been handled already. The
          // host now names this instance as its own (another takes it up only once this one is
          // gone), so its grace period runs here, unless it has another connection here.
          if (!socket.connected) {
            if (!nsp.adapter.rooms.has(hostRoom(host.id))) deps.presence?.left(host.id);
            return fail('unauthenticated', 'the connection closed');
          }
          // Checked again now, in the same turn as the join: another connection may have authenticated meanwhile.
          if (max !== undefined && connectionsOf(host.id) >= max) {
            return fail('rate_limited', `this host already has ${max} connection${max === 1 ? '' : 's'} open; close one before opening another`);
          }
          session.hostId = host.id;
          session.roomHostId = host.id;
          void socket.join(hostRoom(host.id));
          // For the metrics: hosts online by platform.
          socket.data = { hostId: host.id, platform: host.platformClass };
          deps.presence?.joined(host.id);
          log.info('host connected', { hostId: host.id, userId: host.userId, platform: host.platformClass, name: host.name });
          return {
            ok: true,
            hostId: host.id,
            userId: host.userId,
            limits: {
              maxMessageBytes: MAX_MESSAGE_BYTES,
              maxTasksPerRequest: MAX_TASKS_PER_REQUEST,
              maxResultsPerReport: MAX_RESULTS_PER_REPORT,
              heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
              maxOutputBytes: deps.maxOutputBytes ?? MAX_FILE_BYTES,
            },
          };
        } catch (e) {
          if (e instanceof UnknownAccountError) return fail('unauthenticated', e.message);
          throw e;
        }
      },
      false,
    );

    // Every message of an authenticated host goes through the group commit, reads included, so
    // a connection's messages are answered in the order they were sent.
    onHost('tasks.request', TasksRequestSchema, async ({ count, holding, preferences }, hostId, tx, protocol) => {
      // Protocol 3: the tasks unsigned and one signature of their list; 2: each task signed.
      const assigned = protocol === 3
        ? await service.requestTaskList(tx, hostId, count, holding, preferences)
        : await service.requestTasks(tx, hostId, count, holding, preferences);
      const { tasks, limited } = assigned;
      const abort = holding ? await service.unwanted(tx, hostId, holding) : [];
      if (tasks.length === 0) void socket.join(IDLE_ROOM);
      else void socket.leave(IDLE_ROOM);
      return {
        ok: true,
        tasks,
        ...('taskList' in assigned && assigned.taskList ? { taskList: assigned.taskList } : {}),
        ...(abort.length > 0 ? { abort: { taskIds: abort, reason: 'no longer wanted: aborted, given back or finished' } } : {}),
        ...(tasks.length === 0 ? { retryAfterMs: deps.idleRetryMs ?? NO_WORK_RETRY_MS } : {}),
        ...(limited ? { limited } : {}),
      };
    });
    // The report's shape is the session's version's, chosen as it arrives (a hello meanwhile changes nothing for it).
    onHostAfter(
      'results.report',
      () => (session.protocol === 3 ? ResultsReportV3Schema : ResultsReportSchema),
      (report) => ('resultList' in report ? service.verifyResultList(report.results, report.resultList) : service.verifyResults(report.results)),
      async ({ results }, hostId, tx, signed) => ({ ok: true, results: await service.reportResults(tx, hostId, results, signed) }),
    );
    onHost('tasks.progress', ProgressSchema, async ({ updates }, hostId, tx) => ({ ok: true, updated: await service.progress(tx, hostId, updates) }));
    onHost('tasks.giveBack', GiveBackSchema, async ({ taskIds }, hostId, tx) => ({ ok: true, tasks: await service.giveBack(tx, hostId, taskIds) }));
    onHost('credit.receipts', ReceiptsRequestSchema, async ({ afterEntryId, limit }, hostId, tx) => ({
      ok: true,
      receipts: await service.receipts(tx, hostId, afterEntryId, limit),
    }));
    onHost('results.verdicts', VerdictsRequestSchema, async ({ taskIds }, hostId, tx) => ({ ok: true, verdicts: await service.verdicts(tx, hostId, taskIds) }));
    onHost('heartbeat', EmptySchema, async () => ({ ok: true, serverTime: Date.now() }));

    socket.on('disconnect', (reason) => {
      const hostId = session.roomHostId;
      if (hostId === undefined) return;
      log.info('host disconnected', { hostId, reason });
      // Rooms are left by now: the room is gone when this was the host's last connection.
      if (!nsp.adapter.rooms.has(hostRoom(hostId))) deps.presence?.left(hostId);
    });

    function leaveHostRoom(): void {
      const hostId = session.roomHostId;
      if (hostId === undefined) return;
      session.roomHostId = undefined;
      void socket.leave(hostRoom(hostId));
      if (!nsp.adapter.rooms.has(hostRoom(hostId))) deps.presence?.left(hostId);
    }
  });

  return nsp;
}

/** Hosts with at least one authenticated connection to this instance now, by platform class. */
export function onlineHostsByPlatform(nsp: Namespace): Map<string, number> {
  const platformOf = new Map<number, string>();
  for (const socket of nsp.sockets.values()) {
    const data = socket.data as { hostId?: number; platform?: string } | undefined;
    if (data?.hostId !== undefined && socket.rooms.has(hostRoom(data.hostId))) platformOf.set(data.hostId, data.platform ?? 'unknown');
  }
  const counts = new Map<string, number>();
  for (const platform of platformOf.values()) counts.set(platform, (counts.get(platform) ?? 0) + 1);
  return counts;
}

/** Delivers post-commit notices to whichever sockets a host has open. */
export function socketNotifier(nsp: () => Namespace | undefined): HostNotifier & { workAvailable(): void } {
  let lastAvailable = 0;
  let pending: ReturnType<typeof setTimeout> | undefined;
  const tellIdle = () => {
    lastAvailable = Date.now();
    pending = undefined;
    nsp()?.to(IDLE_ROOM).emit('tasks.available', {});
  };
  return {
    workAvailable() {
      if (pending) return;
      const wait = lastAvailable + AVAILABLE_PUSH_MS - Date.now();
      if (wait <= 0) tellIdle();
      else {
        pending = setTimeout(tellIdle, wait);
        pending.unref();
      }
    },
    abort(hostId, taskIds, reason) {
      nsp()?.to(hostRoom(hostId)).emit('tasks.abort', { taskIds, reason });
    },
    credit(hostId, receipts) {
      nsp()?.to(hostRoom(hostId)).emit('credit.granted', { receipts });
    },
    judged(hostId, verdicts) {
      // In pushes no longer than a results.verdicts reply.
      for (let i = 0; i < verdicts.length; i += MAX_VERDICTS_PER_REQUEST) {
        nsp()?.to(hostRoom(hostId)).emit('results.judged', { verdicts: verdicts.slice(i, i + MAX_VERDICTS_PER_REQUEST) });
      }
    },
  };
}
