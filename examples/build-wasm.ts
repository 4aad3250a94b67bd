// Compiles WebAssembly text (.wat) to a binary module with wabt, so example apps commit
// their kernel's source and the binary is built when the app's files are gathered.
// The output depends only on the source: no debug names, canonical LEB128 encodings.

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
