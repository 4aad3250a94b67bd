// Why a connection to the coordinator failed, in words a volunteer can act on: Socket.IO says
// only "websocket error"; the cause (refused, unknown host, TLS, an HTTP status from something
// that is not a coordinator) is in the error it wraps. Pure: the page and the daemon share it.

interface Wrapped {
  message?: unknown;
  code?: unknown;
  description?: unknown;
  error?: unknown;
}

/** The innermost error's code and message: Socket.IO's TransportError wraps ws's ErrorEvent, which wraps Node's error. */
function innermost(e: unknown): { code: string | undefined; message: string } {
  let cur = e as Wrapped | undefined;
  let code: string | undefined;
  let message = '';
  for (let depth = 0; cur && typeof cur === 'object' && depth < 4; depth++) {
    if (typeof cur.code === 'string') code = cur.code;
    if (typeof cur.message === 'string' && cur.message !== '') message = cur.message;
    cur = (cur.error ?? cur.description) as Wrapped | undefined;
  }
  return { code, message: message || String(e) };
}

const TLS_CODES = /^(EPROTO|ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;

/** A failed connection attempt to `url` (the coordinator's base URL; the page's own origin when absent), described. */
export function describeConnectError(e: unknown, url: string | undefined): string {
  const where = url === undefined ? undefined : safeUrl(url);
  const host = where?.host ?? 'the coordinator';
  const origin = where ? `${where.protocol}//${where.host}` : 'the coordinator';
  const { code, message } = innermost(e);
  const firstLine = message.split('\n')[0]!.trim();
  const status = /Unexpected server response: (\d+)/.exec(message)?.[1];

  if (firstLine.startsWith('rate_limited')) return `the coordinator refused the connection: ${firstLine.replace(/^rate_limited:\s*/, '')}`;
  if (code === 'ECONNREFUSED') return `nothing answers at ${host} (connection refused); is the coordinator running there?`;
  if (code === 'ENOTFOUND') return `the host name ${where?.hostname ?? host} is not known (DNS); check the URL`;
  if (code === 'EAI_AGAIN') return `cannot look up ${where?.hostname ?? host} (DNS is not answering)`;
  if (code === 'ETIMEDOUT' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return `cannot reach ${host} (${code})`;
  if (code !== undefined && TLS_CODES.test(code)) {
    if (/wrong version number|packet length too long|http request/i.test(message)) {
      return `TLS failed: ${host} does not speak TLS; use http:// instead of https://?`;
    }
    if (/cert|self.signed|verify/i.test(code + message)) return `TLS failed: the certificate of ${host} is not trusted (${code}: ${firstLine})`;
    return `TLS failed with ${host}: ${firstLine}`;
  }
  if (code === 'ECONNRESET' || /socket hang up/.test(message)) {
    return `${host} closed the connection before it opened${where?.protocol === 'http:' ? '; if it serves TLS, use https://' : ''}`;
  }
  if (status === '404') return `${origin} answers, but is not a volunteer-grid coordinator (HTTP 404 where its WebSocket should be); check the URL`;
  if (status !== undefined) return `${origin} answered HTTP ${status} instead of opening a WebSocket; check the URL (a proxy in between must pass WebSockets through)`;
  if (/Invalid namespace/i.test(message)) return `${origin} speaks Socket.IO, but is not a volunteer-grid coordinator (it has no /volunteer namespace)`;
  if (message === 'timeout') return `no answer from ${host} while connecting`;
  return firstLine || 'the connection failed';
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
