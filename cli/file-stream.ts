// Reading a local file for upload: its SHA-256, and its bytes as a stream that reports how
// much fetch has taken (so the progress bar shows bytes sent, at the pace of the network).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const CHUNK_BYTES = 256 * 1024;

export async function sha256OfFile(path: string, onRead: (bytes: number) => void = () => {}): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onRead(read);
  }
  return hash.digest('hex');
}

export function fileBodyStream(path: string, onSent: (bytes: number) => void): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      handle ??= await open(path, 'r');
      const buffer = new Uint8Array(CHUNK_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) {
        await handle.close();
        controller.close();
        return;
      }
      sent += bytesRead;
      onSent(sent);
      controller.enqueue(buffer.subarray(0, bytesRead));
    },
    async cancel() {
      await handle?.close();
    },
  });
}
