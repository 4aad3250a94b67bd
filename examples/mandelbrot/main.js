// Demo app: Mandelbrot escape-time counts over a rectangle of the complex plane, computed by
// a WebAssembly kernel (kernel.wasm, built from kernel.wat next to this file). The image is
// width x height pixels sampled at pixel centres; row j has imaginary part
// y0 + (j + 0.5) * (y1 - y0) / height. The output is one sum of iteration counts per row,
// the number of points that never escaped and a checksum of every count in row-major order,
// so replicas can be compared exactly. Checkpoints every few rows so a restarted task resumes.
//
// Only IEEE-exact arithmetic (+, -, *, /) is used here and in the kernel, so every machine
// and engine computes the same counts.

const MAX_WIDTH = 16384; // one 64 KiB page of i32 counts in the kernel's memory
const MAX_HEIGHT = 1000; // keeps the output (one number per row) small
const MAX_ITER = 1_000_000;
const CHECKPOINT_ROWS = 8;

function validate(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new Error('input must be an object { x0, y0, x1, y1, width, height, maxIter }');
  }
  const { x0, y0, x1, y1, width, height, maxIter } = input;
  for (const [name, value] of [['x0', x0], ['y0', y0], ['x1', x1], ['y1', y1]]) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`input.${name} must be a finite number`);
    }
  }
  if (!(x0 < x1)) throw new Error('input must have x0 < x1');
  if (!(y0 < y1)) throw new Error('input must have y0 < y1');
  if (!Number.isInteger(width) || width < 1 || width > MAX_WIDTH) {
    throw new Error(`input.width must be an integer in [1, ${MAX_WIDTH}]`);
  }
  if (!Number.isInteger(height) || height < 1 || height > MAX_HEIGHT) {
    throw new Error(`input.height must be an integer in [1, ${MAX_HEIGHT}]`);
  }
  if (!Number.isInteger(maxIter) || maxIter < 1 || maxIter > MAX_ITER) {
    throw new Error(`input.maxIter must be an integer in [1, ${MAX_ITER}]`);
  }
  const dx = (x1 - x0) / width;
  const dy = (y1 - y0) / height;
  if (!Number.isFinite(dx) || !(dx > 0) || !Number.isFinite(dy) || !(dy > 0)) {
    throw new Error('input rectangle is too large or too small to sample');
  }
  return { x0, y0, width, height, maxIter, dx, dy };
}

function validResume(state, height) {
  return (
    state !== null &&
    typeof state === 'object' &&
    Number.isInteger(state.nextRow) &&
    state.nextRow >= 0 &&
    state.nextRow <= height &&
    Array.isArray(state.rowSums) &&
    state.rowSums.length === state.nextRow &&
    Number.isInteger(state.inside) &&
    state.inside >= 0 &&
    Number.isInteger(state.checksum) &&
    state.checksum >= 0 &&
    state.checksum <= 0xffffffff
  );
}

export default async function run(input, ctx) {
  const { x0, y0, width, height, maxIter, dx, dy } = validate(input);

  let state = { nextRow: 0, rowSums: [], inside: 0, checksum: 0 };
  if (ctx.resume !== undefined) {
    if (!validResume(ctx.resume, height)) throw new Error('checkpoint does not match this input');
    const { nextRow, rowSums, inside, checksum } = ctx.resume;
    state = { nextRow, rowSums: rowSums.slice(), inside, checksum };
  }

  const bytes = await ctx.file('kernel.wasm');
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const { row, memory } = instance.exports;
  if (typeof row !== 'function' || !(memory instanceof WebAssembly.Memory)) {
    throw new Error('kernel.wasm must export row() and memory');
  }
  if (width * 4 > memory.buffer.byteLength) throw new Error('kernel.wasm memory is too small for this width');
  const counts = new DataView(memory.buffer); // wasm memory is little-endian on every platform

  const firstX = x0 + 0.5 * dx;
  while (state.nextRow < height) {
    const j = state.nextRow;
    row(y0 + (j + 0.5) * dy, firstX, dx, width, maxIter);
    let sum = 0;
    let { inside, checksum } = state;
    for (let i = 0; i < width; i++) {
      const n = counts.getInt32(4 * i, true);
      sum += n;
      if (n === maxIter) inside++;
      checksum = (Math.imul(checksum, 31) + n) >>> 0;
    }
    state.rowSums.push(sum);
    state.inside = inside;
    state.checksum = checksum;
    state.nextRow = j + 1;
    ctx.progress(state.nextRow / height);
    if (state.nextRow % CHECKPOINT_ROWS === 0 && state.nextRow < height) {
      await ctx.checkpoint({ ...state, rowSums: state.rowSums.slice() });
    }
  }

  return { width, height, maxIter, rowSums: state.rowSums, inside: state.inside, checksum: state.checksum };
}
