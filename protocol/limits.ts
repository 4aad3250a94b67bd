// Explicit bounds shared by the coordinator and every volunteer. docs/protocol.md lists them.

/**
 * What the reference clients speak. 3: a reply's tasks and a report's results are signed once,
 * as a list (signed-lists.ts). 2: uploads name their task (X-VG-Task-Id), results may carry the
 * app's log. docs/protocol.md.
 */
export const PROTOCOL_VERSION = 3;
/** What a coordinator speaks: 2 for clients not yet updated, answered as before. */
export const SUPPORTED_PROTOCOL_VERSIONS = [2, 3] as const;
export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];

/** Largest Socket.IO message the coordinator accepts (its maxHttpBufferSize). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Inputs and outputs whose canonical JSON is larger travel as files over HTTP, by hash. */
export const MAX_INLINE_JSON_BYTES = 256 * 1024;
/** Largest file (app file, large input or output) accepted over HTTP. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_TASKS_PER_REQUEST = 64;
export const MAX_RESULTS_PER_REPORT = 64;
/** Task ids one results.verdicts may ask about. */
export const MAX_VERDICTS_PER_REQUEST = 64;
/** Longest `holding` list in tasks.request (and so the most tasks a host can hold usefully). */
export const MAX_TASKS_HELD = 10_000;
export const MAX_APP_FILES = 64;
/** Projects a tasks.request's `preferences` may list. */
export const MAX_PREFERENCE_PROJECTS = 64;
/** A project's resource share in `preferences`: 0..MAX_SHARE, DEFAULT_SHARE when not given. */
export const MAX_SHARE = 1000;
export const DEFAULT_SHARE = 100;
export const MAX_ERROR_MESSAGE_CHARS = 2000;
/** A line an app logs (console or ctx.log), cut to this many characters. */
export const MAX_LOG_LINE_CHARS = 2000;
/** A result's log: its last lines, at most this many, and at most MAX_RESULT_LOG_CHARS of text together. */
export const MAX_RESULT_LOG_LINES = 100;
export const MAX_RESULT_LOG_CHARS = 16 * 1024;
/** Largest cpuTimeMs or elapsedMs a result may carry (about 31 years). */
export const MAX_MEASURED_MS = 1e12;
/** Deepest nesting of arrays and objects in a message or request body (canonical JSON allows 64 inside it). */
export const MAX_MESSAGE_NESTING = 256;
