// What the link and the engine log to: common/log.ts's structured logger fits as it is; the page
// passes a quiet one (it tells its story through its activity list instead).

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
