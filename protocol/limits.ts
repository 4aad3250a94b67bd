// Explicit bounds shared by the coordinator and every volunteer. docs/protocol.md lists them.

export const PROTOCOL_VERSION = 1;

/** Largest Socket.IO message the coordinator accepts (its maxHttpBufferSize). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Inputs and outputs whose canonical JSON is larger travel as files over HTTP, by hash. */
export const MAX_INLINE_JSON_BYTES = 256 * 1024;
/** Largest file (app file, large input or output) accepted over HTTP. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
export const MAX_TASKS_PER_REQUEST = 64;
export const MAX_RESULTS_PER_REPORT = 64;
/** Longest `holding` list in tasks.request (and so the most tasks a host can hold usefully). */
export const MAX_TASKS_HELD = 10_000;
export const MAX_APP_FILES = 64;
export const MAX_ERROR_MESSAGE_CHARS = 2000;
/** Largest cpuTimeMs or elapsedMs a result may carry (about 31 years). */
export const MAX_MEASURED_MS = 1e12;
/** Deepest nesting of arrays and objects in a message or request body (canonical JSON allows 64 inside it). */
export const MAX_MESSAGE_NESTING = 256;
