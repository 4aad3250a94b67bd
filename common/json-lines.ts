// Reads a stream of JSON lines (a child process's structured log) as it arrives. Lines that are
// not JSON are skipped: a process may print other things too.
import type { Readable } from 'node:stream';

export function onJsonLines(stream: Readable, each: (value: unknown) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        each(JSON.parse(line) as unknown);
      } catch {
        // not a JSON line
      }
    }
  });
}
