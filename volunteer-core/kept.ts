// What a client's journal reads back. Tasks and results kept before it spoke protocol 3 carry a
// signature of their own; those kept since do not (a reply's list signs its tasks, a report's
// list its results). Both read as protocol 3's: a kept signature is dropped, never sent again.
import { z } from 'zod';
import { ResultSchema, TaskSchema, UnsignedResultSchema, UnsignedTaskSchema, type UnsignedResult, type UnsignedTask } from '../protocol/messages.js';

const dropSignature = <T extends { signature: string }>({ signature: _signature, ...rest }: T): Omit<T, 'signature'> => rest;

export const KeptTaskSchema: z.ZodType<UnsignedTask> = z.union([UnsignedTaskSchema, TaskSchema.transform(dropSignature)]);
export const KeptResultSchema: z.ZodType<UnsignedResult> = z.union([UnsignedResultSchema, ResultSchema.transform(dropSignature)]);
