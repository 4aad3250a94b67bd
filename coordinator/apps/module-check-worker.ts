// The worker thread of module-check.ts: parses each module it is sent with the parser volunteers
// load apps with, and answers what it imports and exports, or why it does not parse.
import { ModuleSource } from '@endo/module-source';
import { answerChecks } from './check-worker.js';
import type { ModuleParse, ModuleRequest } from './module-check.js';

answerChecks(({ name, bytes }: ModuleRequest): ModuleParse => {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { problem: `${name}: not UTF-8 text` };
  }
  try {
    const source = new ModuleSource(text, name);
    return { imports: [...source.imports], exports: [...source.exports] };
  } catch (e) {
    // The parser says "Error transforming source in main.js: Unexpected token (3:7)": line 3, column 7.
    const message = (e as Error).message.replace(/^Error transforming source in [^:]*: /, '');
    return { problem: `${name}: ${message.replace(/\((\d+):(\d+)\)$/, '(line $1, column $2)')}` };
  }
});
