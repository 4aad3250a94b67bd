// Apps that leave work behind when their task ends, and the innocent app that runs after them
// on the same sandbox: shared by the Node sandbox tests and the browser page tests.

// A WebAssembly module built inside an app: `funcs` functions of `ops` additions each (large
// enough that compiling it outlives the task that starts it), optionally importing env.f and
// naming it as its start function, so instantiating the module calls back into app code.
export const WASM_BUILDER = `
const leb = (n) => { const o = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const utf8 = (s) => [...new TextEncoder().encode(s)];
function wasmModule(funcs, ops, startImport) {
  const body = [0, 0x41, 0];
  for (let i = 0; i < ops; i++) body.push(0x41, 1, 0x6a); // i32.const 1; i32.add
  body.push(0x0b);
  const fn = [...leb(body.length), ...body];
  const head = [0, 97, 115, 109, 1, 0, 0, 0, ...section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 0, 0])];
  if (startImport) head.push(...section(2, [1, ...leb(3), ...utf8('env'), ...leb(1), ...utf8('f'), 0, 1]));
  head.push(...section(3, [...leb(funcs), ...new Array(funcs).fill(0)]));
  if (startImport) head.push(...section(8, [0]));
  const codeSize = leb(funcs).length + funcs * fn.length;
  head.push(10, ...leb(codeSize), ...leb(funcs));
  const bytes = new Uint8Array(head.length + funcs * fn.length);
  bytes.set(head);
  for (let i = 0, at = head.length; i < funcs; i++, at += fn.length) bytes.set(fn, at);
  return bytes;
}
const burn = (n) => { let x = 0; for (let i = 0; i < n; i++) x = (x + i) | 0; return x; };
`;

// Computes a little, waiting for a checkpoint between slices: the event-loop turns in which
// anything an earlier task left pending on the same worker would run.
export const INNOCENT_APP = `export default async (input, ctx) => {
  let x = 0;
  for (let step = 0; step < 20; step++) { for (let i = 0; i < 1e6; i++) x = (x + i) | 0; await ctx.checkpoint({ step }); }
  return 'innocent';
};`;

/** Compilations, one after another, each followed by seconds of computing: outlives its task. */
export const COMPILE_CHAIN_APP = `${WASM_BUILDER}
export default async () => {
  const bytes = wasmModule(2000, 2000, false);
  const loop = () => WebAssembly.compile(bytes).then(() => { burn(2e9); loop(); });
  loop();
  return 'left a compilation behind';
};`;

/** An instantiation whose start function, an app function, computes for seconds. */
export const INSTANTIATE_START_APP = `${WASM_BUILDER}
export default async () => {
  void WebAssembly.instantiate(wasmModule(2000, 2000, true), { env: { f: () => burn(2e9) } });
  return 'left an instantiation behind';
};`;
