// Makes this realm's Date show UTC only, whatever the volunteer's time zone: the zone is a
// fingerprint of the volunteer, and replicas that read it could disagree. Imported before
// SES, which builds the compartments' Date from the realm's (and removes Intl and
// Temporal.Now): local-time methods become their UTC twins, the constructor reads date
// components as UTC, and strings are parsed only in forms that name their zone or mean UTC.
//
// Strings in other forms (e.g. "Jan 1 2020") give an Invalid Date, as ECMAScript allows: an
// engine's own parse reads them in local time, and nothing in the string says otherwise.
const RealDate = Date;
const proto = RealDate.prototype;
const { getTime, setTime, getUTCFullYear, setUTCFullYear } = proto;
const { now, UTC } = RealDate;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** ECMAScript's DateString and TimeString, in UTC. */
function dateString(d: Date): string {
  const y = d.getUTCFullYear();
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate(), 2)} ${y < 0 ? '-' : ''}${pad(Math.abs(y), 4)}`;
}
function timeString(d: Date): string {
  return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)} GMT+0000 (Coordinated Universal Time)`;
}
const valid = (d: Date) => !Number.isNaN(getTime.call(d)); // throws for a this that is not a Date, as the originals do

// ISO 8601 as ECMAScript defines it (a date-only form means UTC, a date-time without an offset
// local time, which here is UTC), and what toString and toUTCString write.
const ISO = /^(?:[+-]\d{6}|\d{4})(?:-\d\d(?:-\d\d)?)?(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/;
const TO_STRING = /^(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d -?\d{4,6} \d\d:\d\d:\d\d GMT[+-]\d{4}(?: \([^()]*\))?$/;
const TO_UTC_STRING = /^(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) -?\d{4,6} \d\d:\d\d:\d\d GMT$/;

// Functions installed on intrinsics are concise methods: SES refuses a `prototype` on them.
const statics = {
  /** The time value of a date string, always with an explicit zone by the time the engine reads it. */
  parse(text: unknown): number {
    const s = String(text);
    const iso = ISO.exec(s);
    if (iso) {
      if (iso[2] !== undefined) return RealDate.parse(s); // an offset or Z: the same everywhere
      return RealDate.parse(iso[1] === undefined ? `${s}T00:00Z` : `${s}Z`);
    }
    if (TO_STRING.test(s) || TO_UTC_STRING.test(s)) return RealDate.parse(s);
    return NaN;
  },
};
const { parse } = statics;

/** ECMAScript's ToPrimitive with no hint, for a Date constructor's one argument. */
function toPrimitive(v: unknown): unknown {
  if ((typeof v !== 'object' || v === null) && typeof v !== 'function') return v;
  const o = v as Record<PropertyKey, unknown>;
  const exotic = o[Symbol.toPrimitive];
  if (exotic !== undefined && exotic !== null) {
    if (typeof exotic !== 'function') throw new TypeError('Symbol.toPrimitive is not a function');
    const r: unknown = exotic.call(v, 'default');
    if ((typeof r === 'object' && r !== null) || typeof r === 'function') throw new TypeError('Cannot convert object to primitive value');
    return r;
  }
  for (const name of ['valueOf', 'toString']) {
    const f = o[name];
    if (typeof f !== 'function') continue;
    const r: unknown = f.call(v);
    if ((typeof r !== 'object' || r === null) && typeof r !== 'function') return r;
  }
  throw new TypeError('Cannot convert object to primitive value');
}

function timeValueOf(v: unknown): number {
  try {
    return getTime.call(v as Date); // a Date: its time value
  } catch {
    const p = toPrimitive(v);
    return typeof p === 'string' ? parse(p) : +(p as number); // + throws for a BigInt or Symbol, as Date does
  }
}

const methods = {
  toString(this: Date): string {
    return valid(this) ? `${dateString(this)} ${timeString(this)}` : 'Invalid Date';
  },
  toDateString(this: Date): string {
    return valid(this) ? dateString(this) : 'Invalid Date';
  },
  toTimeString(this: Date): string {
    return valid(this) ? timeString(this) : 'Invalid Date';
  },
  getTimezoneOffset(this: Date): number {
    return valid(this) ? 0 : NaN;
  },
  getYear(this: Date): number {
    return getUTCFullYear.call(this) - 1900;
  },
  setYear(this: Date, year: unknown): number {
    const t = getTime.call(this);
    const y = Number(year);
    if (Number.isNaN(y)) return setTime.call(this, NaN);
    const whole = Math.trunc(y);
    const d = new RealDate(Number.isNaN(t) ? 0 : t);
    setUTCFullYear.call(d, whole >= 0 && whole <= 99 ? 1900 + whole : y);
    return setTime.call(this, getTime.call(d));
  },
};

const local = ['Date', 'Day', 'FullYear', 'Hours', 'Milliseconds', 'Minutes', 'Month', 'Seconds'];
const define = (o: object, key: string, value: unknown) => Object.defineProperty(o, key, { value, writable: true, enumerable: false, configurable: true });
for (const part of local) {
  define(proto, `get${part}`, (proto as unknown as Record<string, unknown>)[`getUTC${part}`]);
  if (part !== 'Day') define(proto, `set${part}`, (proto as unknown as Record<string, unknown>)[`setUTC${part}`]);
}
for (const [key, value] of Object.entries(methods)) define(proto, key, value);
define(proto, 'toLocaleString', methods.toString);
define(proto, 'toLocaleDateString', methods.toDateString);
define(proto, 'toLocaleTimeString', methods.toTimeString);

function UtcDate(this: unknown, ...args: unknown[]): unknown {
  if (new.target === undefined) return methods.toString.call(new RealDate(now()));
  const t = args.length === 0 ? now() : args.length === 1 ? timeValueOf(args[0]) : UTC(...(args as [number, number]));
  return Reflect.construct(RealDate, [t], new.target);
}
Object.defineProperties(UtcDate, {
  name: { value: 'Date' },
  length: { value: 7 },
  prototype: { value: proto, writable: false },
  now: { value: now, writable: true, configurable: true },
  parse: { value: parse, writable: true, configurable: true },
  UTC: { value: UTC, writable: true, configurable: true },
});
define(proto, 'constructor', UtcDate);
define(globalThis, 'Date', UtcDate);

export {};
