// Reads a password: typed without echo on a terminal, or the first line of piped stdin
// (`echo "$PASSWORD" | volunteer-grid login …`), so it never has to appear in argv.
import { Failure } from './failure.js';

export async function readPassword(prompt: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  const password = input.isTTY ? await readHidden(prompt, input, output) : await readFirstLine(input);
  if (password === '') throw new Failure('no password given');
  return password;
}

function readHidden(prompt: string, input: NodeJS.ReadStream, output: NodeJS.WritableStream): Promise<string> {
  output.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Failure) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Failure('cancelled'));
        if (ch === '\u0004') return typed === '' ? done(new Failure('cancelled')) : done();
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.on('data', onData);
    input.resume();
  });
}

function readFirstLine(input: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = () => {
      input.off('data', onData);
      input.off('end', finish);
      input.off('error', onError);
      input.destroy();
      resolve(text.split(/\r?\n/)[0] ?? '');
    };
    const onData = (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) finish();
    };
    const onError = (e: Error) => reject(new Failure(`cannot read the password from stdin: ${e.message}`));
    input.setEncoding('utf8');
    input.on('data', onData);
    input.once('end', finish);
    input.once('error', onError);
  });
}
