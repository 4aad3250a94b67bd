// One request of the volunteer protocol from a socket.io client: sends it with an ack, and
// returns the reply, or throws with the coordinator's error code and message.
import type { Socket } from 'socket.io-client';
import type { Reply } from '../protocol/messages.js';

export async function protocolCall<T extends object>(socket: Socket | undefined, event: string, payload: unknown, timeoutMs: number): Promise<T> {
  if (!socket?.connected) throw new Error(`${event}: not connected`);
  const reply = (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as Reply<T>;
  if (!reply.ok) throw new Error(`${event}: ${reply.error.code}: ${reply.error.message}`);
  return reply;
}
