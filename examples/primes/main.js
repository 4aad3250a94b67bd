// Demo app: counts the primes in [from, to) by trial division, with a checksum of them, so
// that replicas can be compared exactly. Checkpoints so a restarted task resumes.

function isPrime(n) {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export default async function run(input, ctx) {
  const { from, to } = input;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) {
    throw new Error('input must be { from, to } with integers from <= to');
  }
  const state = ctx.resume ?? { next: from, count: 0, checksum: 0 };
  const step = 10_000;
  while (state.next < to) {
    const end = Math.min(to, state.next + step);
    for (let n = state.next; n < end; n++) {
      if (isPrime(n)) {
        state.count++;
        state.checksum = (Math.imul(state.checksum, 31) + n) >>> 0;
      }
    }
    state.next = end;
    ctx.progress((state.next - from) / Math.max(1, to - from));
    await ctx.checkpoint(state);
  }
  return { from, to, count: state.count, checksum: state.checksum };
}
