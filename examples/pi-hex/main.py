# Hexadecimal digits of pi from any position, without the digits before it: the
# Bailey-Borwein-Plouffe formula
#
#   pi = sum over k >= 0 of 16^-k * (4/(8k+1) - 2/(8k+4) - 1/(8k+5) - 1/(8k+6))
#
# gives the fractional part of 16^n * pi from four series, each a sum of terms
# 16^(n-k) / (8k+j) taken modulo 1. Everything is integer arithmetic (a fixed point of
# `bits` bits, and pow with a modulus), so every volunteer computes the same digits.
# A work unit {"start": n, "count": c} returns the c digits after position n (digit 1 is the
# first after the point: pi = 3.243F6A88...). The standard library only.


def series(j, n, bits, ctx, done, total):
    """frac(sum_k 16^(n-k) / (8k+j)) as a fixed-point integer of `bits` bits."""
    one = 1 << bits
    s = 0
    for k in range(n + 1):
        d = 8 * k + j
        s = (s + (pow(16, n - k, d) << bits) // d) % one
        if k % 20000 == 0:
            ctx.progress((done + k / (n + 1)) / total)
    k = n + 1
    while True:  # the tail: 16^(n-k) < 1, shrinking by 16 a term
        t = (one >> (4 * (k - n))) // (8 * k + j)
        if t == 0:
            return s
        s += t
        k += 1


def run(input, ctx):
    start, count = input["start"], input["count"]
    if not (isinstance(start, int) and isinstance(count, int) and start >= 0 and 1 <= count <= 64):
        raise ValueError("the input is {start: n >= 0, count: 1..64}")
    bits = 4 * count + 64  # 64 guard bits: the four sums' rounding stays far below the last digit
    # A checkpoint holds the series already summed, as hex (they have more bits than JSON numbers).
    state = ctx.resume or {"sums": {}}
    for i, j in enumerate((1, 4, 5, 6)):
        if str(j) in state["sums"]:
            continue
        state["sums"][str(j)] = format(series(j, start, bits, ctx, i, 4), "x")
        ctx.checkpoint(state)
    s1, s4, s5, s6 = (int(state["sums"][str(j)], 16) for j in (1, 4, 5, 6))
    x = (4 * s1 - 2 * s4 - s5 - s6) % (1 << bits)
    digits = format(x >> (bits - 4 * count), "0%dX" % count)
    print(f"digits {start + 1} to {start + count} of pi in hexadecimal: {digits}")
    return {"start": start, "digits": digits}
