// What the Python interpreter (Pyodide) meets of the machine, decided where it is decided for
// any WebAssembly program: in the imports its module is instantiated with. Pyodide's own
// imports would read the real clocks and the machine's randomness, and in Node run a shell
// for os.system and open real sockets for socket.socket; here they are replaced:
//
// - the clocks read a virtual clock (as a WASI program's, run-wasi.ts): the realtime clock
//   starts at 2000-01-01T00:00:00Z plus up to 2^28 s drawn from the task's seed, the monotonic
//   and CPU clocks at 0, and every reading moves them 1 µs on;
// - randomness (random_get: os.urandom, secrets, the seeding of `random`, uuid4) reads the
//   task's xoshiro128** stream (prng.ts), the words little-endian, as a WASI program's does;
// - os.system, sockets and name lookups, WebSockets, fetching URLs or scripts from C, running
//   JavaScript from C and ctypes' foreign calls are refused (an errno, or an error).
//
// The interpreter lives across tasks: each task begins with its own clock and stream
// (`begin`), and between tasks both stand still.
import { seededWords } from './prng.js';

/** 2000-01-01T00:00:00Z, as in run-wasi.ts. */
const EPOCH_NS = 946_684_800n * 1_000_000_000n;
const TICK_NS = 1_000n;
const IDLE_SEED = '0'.repeat(64);
/** Emscripten's errno numbers (those of WASI). */
const EACCES = 2;
const EINVAL = 28;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_PROCESS_CPUTIME = 2;
const CLOCK_THREAD_CPUTIME = 3;

type ImportFn = (...args: never[]) => unknown;
type Imports = Record<string, Record<string, unknown>>;

/** Imports that would reach past the interpreter, and what each answers instead. */
const REFUSED: Record<string, ImportFn> = {
  _emscripten_system: () => -1, // system(): "no shell"
  _emscripten_lookup_name: () => 0,
  getaddrinfo: () => -4, // EAI_FAIL
  getnameinfo: () => -4,
  getprotobyname: () => 0,
  _maybe_connect_async: () => null,
  _maybe_poll_async: () => null,
  _maybe_recvfrom_async: () => null,
  _maybe_sendto_async: () => null,
  emscripten_websocket_is_supported: () => 0,
  emscripten_async_wget: () => undefined,
  emscripten_async_wget_data: () => undefined,
  emscripten_async_wget2: () => 0,
  emscripten_async_wget2_data: () => 0,
  emscripten_async_wget2_abort: () => undefined,
  emscripten_async_load_script: () => undefined,
  emscripten_async_run_script: () => undefined,
};
const REFUSED_SYSCALLS = /^__syscall_(socket|socketpair|connect|bind|listen|accept4|sendto|recvfrom|sendmsg|recvmsg|getsockopt|setsockopt|getsockname|getpeername|shutdown)$/;
const FOREIGN_CALLS = /^ffi_/;

export class PythonWorld {
  private words: () => number = seededWords(IDLE_SEED);
  private realtimeStart = EPOCH_NS;
  /**
   * Readings so far of the realtime clock and of the others: apart, so that the interpreter's
   * own readings of the monotonic clock (its garbage collector times itself) never move what
   * the app reads as the date.
   */
  private realtimeTicks = 0n;
  private monotonicTicks = 0n;
  private memory: (() => ArrayBuffer) | undefined;

  /** A task starts: its clock and random stream, from its seed. */
  begin(seedHex: string): void {
    this.words = seededWords(seedHex);
    this.realtimeStart = EPOCH_NS + BigInt(Number.parseInt(seedHex.slice(0, 7), 16)) * 1_000_000_000n;
    this.realtimeTicks = 0n;
    this.monotonicTicks = 0n;
  }

  /** Between tasks: a clock and a stream that say nothing of the last task or the machine. */
  end(): void {
    this.begin(IDLE_SEED);
  }

  /** Milliseconds since 1970 on the task's realtime clock, without moving it (the file system's time stamps). */
  dateNow(): number {
    return Number((this.realtimeStart + this.realtimeTicks * TICK_NS) / 1_000_000n);
  }

  /** The memory to write clock readings and random bytes to, once the module is instantiated. */
  setMemory(buffer: () => ArrayBuffer): void {
    this.memory = buffer;
  }

  /** A reading of `clock`, which moves it 1 µs on; undefined for a clock there is not. */
  private read(clock: number): bigint | undefined {
    if (clock === CLOCK_REALTIME) return this.realtimeStart + ++this.realtimeTicks * TICK_NS;
    if (clock === CLOCK_MONOTONIC || clock === CLOCK_PROCESS_CPUTIME || clock === CLOCK_THREAD_CPUTIME) return ++this.monotonicTicks * TICK_NS;
    return undefined;
  }

  private view(): DataView {
    if (!this.memory) throw new Error('the interpreter read a clock before its memory existed');
    return new DataView(this.memory());
  }

  private random(): number {
    return ((this.words() >>> 5) * 67108864 + (this.words() >>> 6)) / 9007199254740992;
  }

  /** The module's imports with ours in place of those that read or reach the world. */
  imports(original: Imports): Imports {
    const ours: Record<string, ImportFn> = {
      clock_time_get: (clock: number, _precision: bigint, ptr: number) => {
        const t = this.read(clock);
        if (t === undefined) return EINVAL;
        this.view().setBigUint64(ptr >>> 0, t, true);
        return 0;
      },
      clock_res_get: (clock: number, ptr: number) => {
        if (clock < CLOCK_REALTIME || clock > CLOCK_THREAD_CPUTIME) return EINVAL;
        this.view().setBigUint64(ptr >>> 0, TICK_NS, true);
        return 0;
      },
      emscripten_date_now: () => Number(this.read(CLOCK_REALTIME)! / 1_000n) / 1e3,
      emscripten_get_now: () => Number(this.read(CLOCK_MONOTONIC)! / 1_000n) / 1e3,
      emscripten_performance_now: () => Number(this.read(CLOCK_MONOTONIC)! / 1_000n) / 1e3,
      emscripten_get_now_res: () => Number(TICK_NS),
      random_get: (ptr: number, len: number) => {
        const bytes = new Uint8Array(this.view().buffer, ptr >>> 0, len >>> 0);
        for (let i = 0; i < bytes.length; i += 4) {
          const w = this.words();
          for (let k = 0; k < 4 && i + k < bytes.length; k++) bytes[i + k] = (w >>> (8 * k)) & 0xff;
        }
        return 0;
      },
      emscripten_random: () => this.random(),
      emscripten_math_random: () => this.random(),
    };
    const out: Imports = {};
    for (const [module, fns] of Object.entries(original)) {
      // Only functions are replaced; GOT.mem and GOT.func are proxies making globals on demand.
      if (module !== 'env' && module !== 'wasi_snapshot_preview1') {
        out[module] = fns;
        continue;
      }
      const replaced: Record<string, unknown> = { ...fns };
      for (const name of Object.keys(fns)) {
        let own: ImportFn | undefined = ours[name] ?? REFUSED[name];
        if (!own && REFUSED_SYSCALLS.test(name)) own = () => -EACCES;
        if (!own && FOREIGN_CALLS.test(name)) {
          own = () => {
            throw new Error('ctypes cannot call foreign functions in the sandbox');
          };
        }
        // Emscripten marks its imports with their signature (.sig) and reads it back.
        if (own) replaced[name] = Object.assign(own, fns[name]);
      }
      out[module] = replaced;
    }
    return out;
  }
}
