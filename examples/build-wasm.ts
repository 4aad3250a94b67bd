// Compiles WebAssembly text (.wat) to a binary module with wabt. The examples commit both a
// kernel's source and its binary, so that their folders upload as they are
// (`volunteer-grid apps upload` sends files, it builds nothing); after changing a .wat, run
// `npm run build:examples` to rebuild every examples/*/*.wasm. test/examples checks that each
// committed .wasm is exactly what this compiles from its .wat.
// The output depends only on the source: no debug names, canonical LEB128 encodings.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import wabtInit from 'wabt';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;

let wabtPromise: Promise<Wabt> | undefined;

function loadWabt(): Promise<Wabt> {
  wabtPromise ??= wabtInit();
  return wabtPromise;
}

/** Compiles `source` (named `fileName` in error messages) to a validated wasm binary. */
export async function compileWat(source: string, fileName: string): Promise<Uint8Array> {
  const wabt = await loadWabt();
  const mod = wabt.parseWat(fileName, source);
  try {
    mod.resolveNames();
    mod.validate();
    const { buffer } = mod.toBinary({ log: false, canonicalize_lebs: true, relocatable: false, write_debug_names: false });
    return buffer.slice(); // own copy, detached from wabt's heap
  } finally {
    mod.destroy();
  }
}

const EXAMPLES_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Every .wat in an example's folder, with the .wasm built from it beside it. */
export function watFiles(): { wat: string; wasm: string }[] {
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(EXAMPLES_DIR, d.name))
        .filter((name) => name.endsWith('.wat'))
        .map((name) => ({ wat: join(EXAMPLES_DIR, d.name, name), wasm: join(EXAMPLES_DIR, d.name, name.replace(/\.wat$/, '.wasm')) })),
    );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const { wat, wasm } of watFiles()) {
    writeFileSync(wasm, await compileWat(readFileSync(wat, 'utf8'), wat.slice(EXAMPLES_DIR.length)));
    process.stdout.write(`built ${wasm.slice(EXAMPLES_DIR.length)} from ${wat.slice(EXAMPLES_DIR.length)}\n`);
  }
}
