// The example apps, run directly in Node (no sandbox) with a hand-written ctx, against
// independent reference computations.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAppFolder } from '../../common/app-folder.js';
import { compileWat, watFiles } from '../../examples/build-wasm.js';
import { EXAMPLES, EXAMPLES_DIR, type AppFile, type ExampleApp } from '../../examples/catalog.js';
import { mandelbrotInputs, type MandelbrotInput } from '../../examples/mandelbrot/inputs.js';
import type { PrimesInput } from '../../examples/primes/inputs.js';

type Json = unknown;
type RunFn = (input: unknown, ctx: TestCtx) => Promise<Json>;

interface TestCtx {
  file(name: string): Promise<Uint8Array>;
  progress(fraction: number): void;
  checkpoint(state: Json): Promise<void>;
  resume: Json | undefined;
  random(): number;
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  Module: { exports(module: object): { name: string; kind: string }[] };
}

interface Recorded {
  output: Json;
  progress: number[];
  checkpoints: Json[];
}

async function loadApp(app: ExampleApp<unknown>): Promise<{ run: RunFn; files: AppFile[] }> {
  const files = await app.files();
  const mod = (await import(pathToFileURL(join(EXAMPLES_DIR, app.name, 'main.js')).href)) as { default: RunFn };
  return { run: mod.default, files };
}

async function runApp(run: RunFn, files: AppFile[], input: unknown, resume?: Json): Promise<Recorded> {
  const progress: number[] = [];
  const checkpoints: Json[] = [];
  const ctx: TestCtx = {
    async file(name) {
      const file = files.find((f) => f.name === name);
      if (!file) throw new Error(`no file ${name}`);
      return file.bytes.slice();
    },
    progress: (fraction) => void progress.push(fraction),
    async checkpoint(state) {
      checkpoints.push(JSON.parse(JSON.stringify(state)));
    },
    resume: resume === undefined ? undefined : JSON.parse(JSON.stringify(resume)),
    random: () => {
      throw new Error('random() is not used by the examples');
    },
  };
  const output = await run(input, ctx);
  return { output: JSON.parse(JSON.stringify(output)), progress, checkpoints };
}

function expectProgress(progress: number[]): void {
  expect(progress.length).toBeGreaterThan(0);
  for (let i = 1; i < progress.length; i++) expect(progress[i]!).toBeGreaterThan(progress[i - 1]!);
  expect(progress[0]!).toBeGreaterThan(0);
  expect(progress.at(-1)).toBe(1);
}

// ---- references ---------------------------------------------------------------------------

/** Plain-JS escape-time loop with the kernel's arithmetic order, pixel centres as main.js. */
function mandelbrotReference(input: MandelbrotInput) {
  const { x0, y0, x1, y1, width, height, maxIter } = input;
  const dx = (x1 - x0) / width;
  const dy = (y1 - y0) / height;
  const firstX = x0 + 0.5 * dx;
  const rowSums: number[] = [];
  let inside = 0;
  let checksum = 0;
  for (let j = 0; j < height; j++) {
    const cy = y0 + (j + 0.5) * dy;
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const cx = firstX + i * dx;
      let zx = 0;
      let zy = 0;
      let n = 0;
      while (n < maxIter) {
        const x2 = zx * zx;
        const y2 = zy * zy;
        if (x2 + y2 > 4) break;
        zy = 2 * zx * zy + cy;
        zx = x2 - y2 + cx;
        n++;
      }
      sum += n;
      if (n === maxIter) inside++;
      checksum = (Math.imul(checksum, 31) + n) >>> 0;
    }
    rowSums.push(sum);
  }
  return { width, height, maxIter, rowSums, inside, checksum };
}

/** Sieve of Eratosthenes over [0, to), with the app's checksum of the primes in [from, to). */
function primesReference({ from, to }: PrimesInput) {
  const composite = new Uint8Array(to);
  let count = 0;
  let checksum = 0;
  for (let n = 2; n < to; n++) {
    if (composite[n]) continue;
    for (let m = n * n; m < to; m += n) composite[m] = 1;
    if (n >= from) {
      count++;
      checksum = (Math.imul(checksum, 31) + n) >>> 0;
    }
  }
  return { from, to, count, checksum };
}

// ---- tests --------------------------------------------------------------------------------

describe('compileWat', () => {
  it('compiles kernel.wat deterministically to a module exporting row() and memory', async () => {
    const source = await readFile(join(EXAMPLES_DIR, 'mandelbrot', 'kernel.wat'), 'utf8');
    const a = await compileWat(source, 'kernel.wat');
    const b = await compileWat(source, 'kernel.wat');
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect([...a.subarray(0, 4)]).toEqual([0x00, 0x61, 0x73, 0x6d]);
    const files = await EXAMPLES.mandelbrot.files();
    expect(Buffer.from(files.find((f) => f.name === 'kernel.wasm')!.bytes).equals(Buffer.from(a))).toBe(true);

    // The WebAssembly global is not in this project's TypeScript libs (ES2023, no DOM).
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const module = await wasm.compile(a);
    expect(wasm.Module.exports(module).map((e) => `${e.name}:${e.kind}`).sort()).toEqual([
      'memory:memory',
      'row:function',
    ]);
  });

  it('built every committed .wasm of the examples from its .wat, exactly (else: npm run build:examples)', async () => {
    const pairs = watFiles();
    expect(pairs.map((p) => p.wasm.slice(EXAMPLES_DIR.length))).toEqual(['mandelbrot/kernel.wasm']);
    for (const { wat, wasm } of pairs) {
      const built = await compileWat(readFileSync(wat, 'utf8'), wat);
      expect(Buffer.from(built).equals(readFileSync(wasm)), `${wasm} is not what ${wat} compiles to: run npm run build:examples`).toBe(true);
    }
  });

  it('reports syntax and validation errors with the file name', async () => {
    await expect(compileWat('(module (func', 'broken.wat')).rejects.toThrow(/broken\.wat/);
    await expect(compileWat('(module (func (result i32)))', 'invalid.wat')).rejects.toThrow(/invalid\.wat.*type mismatch/s);
  });
});

describe('the example folders', () => {
  it('upload as they are: the app files only, the input generator and the kernel source left out by .vgignore', () => {
    const upload = (name: string) => {
      const folder = readAppFolder(join(EXAMPLES_DIR, name));
      if ('error' in folder) throw new Error(folder.error);
      return { files: folder.files.map((f) => f.name), leftOut: folder.leftOut };
    };
    expect(upload('primes')).toEqual({
      files: ['main.js'],
      leftOut: [
        { name: '.vgignore', why: 'hidden' },
        { name: 'inputs.ts', why: '.vgignore line 3: inputs.ts' },
      ],
    });
    expect(upload('mandelbrot')).toEqual({
      files: ['kernel.wasm', 'main.js'],
      leftOut: [
        { name: '.vgignore', why: 'hidden' },
        { name: 'inputs.ts', why: '.vgignore line 4: inputs.ts' },
        { name: 'kernel.wat', why: '.vgignore line 5: *.wat' },
      ],
    });
  });
});

describe('mandelbrot example', () => {
  let run: RunFn;
  let files: AppFile[];
  beforeAll(async () => {
    ({ run, files } = await loadApp(EXAMPLES.mandelbrot as ExampleApp<unknown>));
  });

  const whole: MandelbrotInput = { x0: -2, y0: -1.5, x1: 1, y1: 1.5, width: 96, height: 40, maxIter: 300 };

  it('lists main.js and the compiled kernel as its files', () => {
    expect(files.map((f) => f.name)).toEqual(['kernel.wasm', 'main.js']);
    expect(EXAMPLES.mandelbrot.requirements.wasm).toBe(true);
  });

  it('matches a plain-JS escape-time reference exactly', async () => {
    const { output, progress, checkpoints } = await runApp(run, files, whole);
    const reference = mandelbrotReference(whole);
    expect(output).toEqual(reference);
    expect(reference.inside).toBeGreaterThan(0);
    expect(reference.inside).toBeLessThan(whole.width * whole.height);
    expectProgress(progress);
    expect(progress).toHaveLength(whole.height);
    expect(checkpoints.length).toBeGreaterThan(1);
  });

  it('matches the reference on a catalog strip and on a deep zoom', async () => {
    const strip = mandelbrotInputs(8, { width: 64, rowsPerStrip: 12, maxIter: 500 })[3]!;
    expect((await runApp(run, files, strip)).output).toEqual(mandelbrotReference(strip));
    const zoom: MandelbrotInput = {
      x0: -0.7453, y0: 0.1127, x1: -0.7451, y1: 0.1129, width: 32, height: 16, maxIter: 2000,
    };
    const result = await runApp(run, files, zoom);
    expect(result.output).toEqual(mandelbrotReference(zoom));
  });

  it('gives the same output when resumed from a mid-run checkpoint', async () => {
    const fresh = await runApp(run, files, whole);
    const mid = fresh.checkpoints[Math.floor(fresh.checkpoints.length / 2)] as { nextRow: number };
    expect(mid.nextRow).toBeGreaterThan(0);
    expect(mid.nextRow).toBeLessThan(whole.height);
    const resumed = await runApp(run, files, whole, mid);
    expect(resumed.output).toEqual(fresh.output);
    expect(resumed.progress).toHaveLength(whole.height - mid.nextRow);
    expect(resumed.progress.at(-1)).toBe(1);
    // resuming from every checkpoint agrees as well
    for (const checkpoint of fresh.checkpoints) {
      expect((await runApp(run, files, whole, checkpoint)).output).toEqual(fresh.output);
    }
  });

  it('rejects bad inputs and mismatched checkpoints with clear errors', async () => {
    const bad: [unknown, RegExp][] = [
      [null, /input must be an object/],
      [[1, 2], /input must be an object/],
      [{ ...whole, x0: undefined }, /input\.x0 must be a finite number/],
      [{ ...whole, y1: '1.5' }, /input\.y1 must be a finite number/],
      [{ ...whole, x1: Number.NaN }, /input\.x1 must be a finite number/],
      [{ ...whole, x0: 1, x1: 1 }, /x0 < x1/],
      [{ ...whole, y0: 2 }, /y0 < y1/],
      [{ ...whole, width: 0 }, /input\.width must be an integer/],
      [{ ...whole, width: 20000 }, /input\.width must be an integer/],
      [{ ...whole, height: 2.5 }, /input\.height must be an integer/],
      [{ ...whole, height: 100000 }, /input\.height must be an integer/],
      [{ ...whole, maxIter: 0 }, /input\.maxIter must be an integer/],
      [{ ...whole, x0: -1e308, x1: 1e308 }, /too large or too small/],
    ];
    for (const [input, message] of bad) {
      await expect(runApp(run, files, input), JSON.stringify(input) ?? 'undefined').rejects.toThrow(message);
    }
    await expect(runApp(run, files, whole, { nextRow: 3, rowSums: [], inside: 0, checksum: 0 })).rejects.toThrow(
      /checkpoint does not match/,
    );
  });

  it('generates distinct strips tiling the classic view, with positive fpops', () => {
    const inputs = EXAMPLES.mandelbrot.inputs(7);
    expect(inputs).toHaveLength(7);
    expect(new Set(inputs.map((i) => JSON.stringify(i))).size).toBe(7);
    expect(inputs[0]!.y0).toBe(-1.5);
    expect(inputs.at(-1)!.y1).toBe(1.5);
    for (let i = 1; i < inputs.length; i++) expect(inputs[i]!.y0).toBe(inputs[i - 1]!.y1);
    for (const input of inputs) {
      const fpops = EXAMPLES.mandelbrot.fpops(input);
      expect(Number.isFinite(fpops) && fpops > 0).toBe(true);
    }
  });

  it('accepts the catalog inputs as they are', async () => {
    const input = EXAMPLES.mandelbrot.inputs(4)[1]!;
    expect((await runApp(run, files, input)).output).toEqual(mandelbrotReference(input));
  });
});

describe('primes example', () => {
  let run: RunFn;
  let files: AppFile[];
  beforeAll(async () => {
    ({ run, files } = await loadApp(EXAMPLES.primes as ExampleApp<unknown>));
  });

  const input: PrimesInput = { from: 1_000, to: 35_000 };

  it('lists main.js as its only file', () => {
    expect(files.map((f) => f.name)).toEqual(['main.js']);
  });

  it('matches a sieve', async () => {
    const { output, progress, checkpoints } = await runApp(run, files, input);
    expect(output).toEqual(primesReference(input));
    expectProgress(progress);
    expect(checkpoints.length).toBeGreaterThan(1);
    expect(primesReference({ from: 0, to: 100 }).count).toBe(25);
  });

  it('gives the same output when resumed from a mid-run checkpoint', async () => {
    const fresh = await runApp(run, files, input);
    const mid = fresh.checkpoints[1] as { next: number };
    expect(mid.next).toBeGreaterThan(input.from);
    expect(mid.next).toBeLessThan(input.to);
    const resumed = await runApp(run, files, input, mid);
    expect(resumed.output).toEqual(fresh.output);
  });

  it('rejects bad inputs with clear errors', async () => {
    for (const bad of [{ from: 10, to: 5 }, { from: 1.5, to: 10 }, { from: 0 }]) {
      await expect(runApp(run, files, bad)).rejects.toThrow(/input must be \{ from, to \}/);
    }
  });

  it('generates distinct inputs with positive fpops', () => {
    const inputs = EXAMPLES.primes.inputs(5);
    expect(inputs).toHaveLength(5);
    expect(new Set(inputs.map((i) => JSON.stringify(i))).size).toBe(5);
    for (const i of inputs) expect(EXAMPLES.primes.fpops(i)).toBeGreaterThan(0);
  });
});
