// The example apps in one place, for the coordinator's demo seed and the tests: each one's
// files (what `volunteer-grid apps upload examples/NAME` sends: its folder, less what its
// .vgignore leaves out), an input generator and an operation estimate.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAppFolder } from '../common/app-folder.js';
import { mandelbrotFpops, mandelbrotInputs, type MandelbrotInput } from './mandelbrot/inputs.js';
import { collatzFpops, collatzInputs, type CollatzInput } from './collatz/inputs.js';
import { piHexFpops, piHexInputs, type PiHexInput } from './pi-hex/inputs.js';
import { primesFpops, primesInputs, type PrimesInput } from './primes/inputs.js';

export type { CollatzInput, MandelbrotInput, PiHexInput, PrimesInput };

export interface AppFile {
  name: string;
  bytes: Uint8Array;
}

export interface ExampleApp<I> {
  name: string;
  description: string;
  requirements: { wasm?: boolean };
  /** The files of one app version, by name; `main.js` (or `main.wasm`, a WASI program, or `main.py`, a Python app) is the entry. */
  files(): Promise<AppFile[]>;
  inputs(count: number): I[];
  fpops(input: I): number;
}

/** Directory of the examples (this module's directory). */
export const EXAMPLES_DIR = fileURLToPath(new URL('.', import.meta.url));

/** The app version in an example's folder, read as an upload reads it. */
async function folderFiles(example: string): Promise<AppFile[]> {
  const folder = readAppFolder(join(EXAMPLES_DIR, example));
  if ('error' in folder) throw new Error(`examples/${example}: ${folder.error}`);
  return Promise.all(folder.files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await readFile(f.path)) })));
}

const primes: ExampleApp<PrimesInput> = {
  name: 'primes',
  description: 'Counts the primes in ranges of integers: a small real computation to try the grid with.',
  requirements: {},
  files: () => folderFiles('primes'),
  inputs: (count) => primesInputs(count),
  fpops: primesFpops,
};

const mandelbrot: ExampleApp<MandelbrotInput> = {
  name: 'mandelbrot',
  description:
    'Mandelbrot escape-time counts over strips of the complex plane, computed by a WebAssembly kernel.',
  requirements: { wasm: true },
  files: () => folderFiles('mandelbrot'),
  inputs: (count) => mandelbrotInputs(count),
  fpops: mandelbrotFpops,
};

const collatz: ExampleApp<CollatzInput> = {
  name: 'collatz',
  description: 'The longest Collatz trajectory in ranges of integers: a WASI program in C, checkpointing as it goes.',
  requirements: {},
  files: () => folderFiles('collatz'),
  inputs: (count) => collatzInputs(count),
  fpops: collatzFpops,
};

const piHex: ExampleApp<PiHexInput> = {
  name: 'pi-hex',
  description: 'Hexadecimal digits of pi from any position (Bailey-Borwein-Plouffe): a Python app, standard library only.',
  requirements: {},
  files: () => folderFiles('pi-hex'),
  inputs: (count) => piHexInputs(count),
  fpops: piHexFpops,
};

export const EXAMPLES: {
  primes: ExampleApp<PrimesInput>;
  mandelbrot: ExampleApp<MandelbrotInput>;
  collatz: ExampleApp<CollatzInput>;
  piHex: ExampleApp<PiHexInput>;
} = {
  primes,
  mandelbrot,
  collatz,
  piHex,
};
