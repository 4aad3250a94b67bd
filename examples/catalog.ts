// The example apps in one place, for the coordinator's demo seed and the tests: each one's
// files (as an app version holds them), an input generator and an operation estimate.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWat } from './build-wasm.js';
import { mandelbrotFpops, mandelbrotInputs, type MandelbrotInput } from './mandelbrot/inputs.js';
import { primesFpops, primesInputs, type PrimesInput } from './primes/inputs.js';

export type { MandelbrotInput, PrimesInput };

export interface AppFile {
  name: string;
  bytes: Uint8Array;
}

export interface ExampleApp<I> {
  name: string;
  description: string;
  requirements: { wasm?: boolean };
  /** The files of one app version; `main.js` is the entry. */
  files(): Promise<AppFile[]>;
  inputs(count: number): I[];
  fpops(input: I): number;
}

/** Directory of the examples (this module's directory). */
export const EXAMPLES_DIR = fileURLToPath(new URL('.', import.meta.url));

async function readAppFile(dir: string, name: string): Promise<AppFile> {
  return { name, bytes: new Uint8Array(await readFile(join(EXAMPLES_DIR, dir, name))) };
}

const primes: ExampleApp<PrimesInput> = {
  name: 'primes',
  description: 'Counts the primes in ranges of integers: a small real computation to try the grid with.',
  requirements: {},
  async files() {
    const dir = join(EXAMPLES_DIR, 'primes');
    const names = (await readdir(dir)).filter((name) => name.endsWith('.js')).sort();
    return Promise.all(names.map((name) => readAppFile('primes', name)));
  },
  inputs: (count) => primesInputs(count),
  fpops: primesFpops,
};

const mandelbrot: ExampleApp<MandelbrotInput> = {
  name: 'mandelbrot',
  description:
    'Mandelbrot escape-time counts over strips of the complex plane, computed by a WebAssembly kernel.',
  requirements: { wasm: true },
  async files() {
    const wat = await readFile(join(EXAMPLES_DIR, 'mandelbrot', 'kernel.wat'), 'utf8');
    const [main, kernel] = await Promise.all([readAppFile('mandelbrot', 'main.js'), compileWat(wat, 'kernel.wat')]);
    return [main, { name: 'kernel.wasm', bytes: kernel }];
  },
  inputs: (count) => mandelbrotInputs(count),
  fpops: mandelbrotFpops,
};

export const EXAMPLES: { primes: ExampleApp<PrimesInput>; mandelbrot: ExampleApp<MandelbrotInput> } = {
  primes,
  mandelbrot,
};
