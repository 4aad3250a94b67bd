// What a work unit gives a WASI program (docs/apps.md, "WASI programs"): its input is a string,
// which the program reads on stdin, or an object that also names its arguments, the files of
// its directory and where its output is. Pure; the runtime checks it before anything runs.

export interface WasiInput {
  args: string[];
  stdin: Uint8Array;
  /** Files of the preopened directory, by name (flat, as app files are). */
  files: Map<string, Uint8Array>;
  /** Where the output is: stdout, or a file the program leaves in its directory. */
  outputFile: string | undefined;
  /** Whether the output text is JSON (parsed into the output) or kept as a string. */
  outputJson: boolean;
}

const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const KEYS = new Set(['args', 'stdin', 'files', 'outputFile', 'output']);
/** The name a checkpoint has in the program's directory: saved when written, there again on resume. */
export const CHECKPOINT_FILE = 'checkpoint';

/** The input as the program gets it, or what is wrong with it. */
export function wasiInput(input: unknown): WasiInput | { problem: string } {
  const utf8 = (s: string) => new TextEncoder().encode(s);
  if (typeof input === 'string') return { args: [], stdin: utf8(input), files: new Map(), outputFile: undefined, outputJson: false };
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { problem: 'the input of a WASI program is a string (its stdin) or an object {args?, stdin?, files?, outputFile?, output?}' };
  }
  const o = input as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !KEYS.has(k));
  if (unknown !== undefined) return { problem: `the input has "${unknown}", which a WASI program's input has not (args, stdin, files, outputFile, output)` };
  const { args = [], stdin = '', files = {}, outputFile, output = 'text' } = o;
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) return { problem: 'args is a list of strings' };
  if (typeof stdin !== 'string') return { problem: 'stdin is a string' };
  if (typeof files !== 'object' || files === null || Array.isArray(files)) return { problem: 'files is an object of file names to contents' };
  const dir = new Map<string, Uint8Array>();
  for (const [name, content] of Object.entries(files as Record<string, unknown>)) {
    if (!FILE_NAME.test(name) || name === CHECKPOINT_FILE) return { problem: `"${name}" is not a file name an input may give (flat names; "${CHECKPOINT_FILE}" is the runtime's)` };
    const bytes = fileBytes(content);
    if (!bytes) return { problem: `files.${name} is a string (its UTF-8 text) or {base64: string}` };
    dir.set(name, bytes);
  }
  if (outputFile !== undefined && (typeof outputFile !== 'string' || !FILE_NAME.test(outputFile))) return { problem: 'outputFile is a flat file name' };
  if (output !== 'text' && output !== 'json') return { problem: 'output is "text" (the output is a string) or "json" (the output text is parsed)' };
  return { args: args as string[], stdin: utf8(stdin), files: dir, outputFile, outputJson: output === 'json' };
}

function fileBytes(content: unknown): Uint8Array | undefined {
  if (typeof content === 'string') return new TextEncoder().encode(content);
  if (typeof content === 'object' && content !== null && Object.keys(content).length === 1) {
    const b64 = (content as { base64?: unknown }).base64;
    if (typeof b64 === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(b64) && b64.length % 4 === 0) return fromBase64(b64);
  }
  return undefined;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of clean) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i]!, bytes[i + 1], bytes[i + 2]];
    const v = (a << 16) | ((b ?? 0) << 8) | (c ?? 0);
    s += B64[(v >> 18) & 63]! + B64[(v >> 12) & 63]! + (b === undefined ? '=' : B64[(v >> 6) & 63]!) + (c === undefined ? '=' : B64[v & 63]!);
  }
  return s;
}
