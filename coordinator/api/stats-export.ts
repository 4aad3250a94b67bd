// The credit stats export (BOINC's db_dump, which third-party statistics sites read): every
// user, team or host with its total and recent average credit, as JSON (one entry per line) or
// BOINC-style XML, read a page at a time with a turn of the event loop between pages, so an
// export of any size neither holds the loop nor the whole file in memory. docs/api.md describes it.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { creditAmount, creditUnits } from '../../protocol/ledger.js';
import type { StatsHost, StatsKind, StatsTeam, StatsUser } from '../../protocol/api.js';
import type { PublicStore, StatsRow } from '../store/public-store.js';

export type StatsFormat = 'json' | 'xml';
type Entry = StatsUser | StatsTeam | StatsHost;

/** Rows per read. */
const PAGE = 1000;

const credit = (r: StatsRow) => ({
  totalCredit: creditAmount(r.totalCreditMicro),
  rac: creditAmount(creditUnits(r.rac)),
  racTime: r.racTime,
});

function platformOf(json: string | undefined): StatsHost['platform'] {
  const p = JSON.parse(json ?? '{}') as Partial<StatsHost['platform']>;
  return {
    kind: p.kind === 'browser' ? 'browser' : 'node',
    ...(p.engine !== undefined ? { engine: p.engine } : {}),
    ...(p.os !== undefined ? { os: p.os } : {}),
    ...(p.arch !== undefined ? { arch: p.arch } : {}),
  };
}

/** One row as the export shows it: only these fields ever leave. */
export function statsEntry(kind: StatsKind, r: StatsRow): Entry {
  if (kind === 'users') return { id: r.id, name: r.name ?? '', teamId: r.teamId ?? null, createdAt: r.createdAt, ...credit(r) };
  if (kind === 'teams') return { id: r.id, name: r.name ?? '', createdAt: r.createdAt, ...credit(r) };
  const caps = JSON.parse(r.capabilitiesJson ?? '{}') as { cores?: number };
  return {
    id: r.id,
    userId: r.userId!,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt!,
    platform: platformOf(r.platformJson),
    cores: typeof caps.cores === 'number' ? caps.cores : null,
    ...credit(r),
  };
}

/** XML 1.0 text: markup escaped, characters XML cannot carry replaced. */
export function xmlText(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const tag = (name: string, value: string | number | null | undefined) => (value === null || value === undefined ? '' : `<${name}>${typeof value === 'number' ? value : xmlText(value)}</${name}>`);
const seconds = (ms: number) => Math.floor(ms / 1000);

/** One entry in BOINC's tag names (times in seconds since the epoch, as BOINC writes them). */
export function xmlRecord(kind: StatsKind, e: Entry): string {
  const credits = `${tag('total_credit', e.totalCredit)}${tag('expavg_credit', e.rac)}${tag('expavg_time', e.racTime / 1000)}`;
  if (kind === 'users') {
    const u = e as StatsUser;
    return `<user>${tag('id', u.id)}${tag('name', u.name)}${tag('teamid', u.teamId ?? 0)}${tag('create_time', seconds(u.createdAt))}${credits}</user>\n`;
  }
  if (kind === 'teams') {
    const t = e as StatsTeam;
    return `<team>${tag('id', t.id)}${tag('name', t.name)}${tag('create_time', seconds(t.createdAt))}${credits}</team>\n`;
  }
  const h = e as StatsHost;
  return (
    `<host>${tag('id', h.id)}${tag('userid', h.userId)}${tag('create_time', seconds(h.createdAt))}${tag('rpc_time', seconds(h.lastSeenAt))}` +
    `${tag('platform', h.platform.kind)}${tag('engine', h.platform.engine)}${tag('os_name', h.platform.os)}${tag('arch', h.platform.arch)}` +
    `${tag('n_cpus', h.cores)}${credits}</host>\n`
  );
}

/**
 * The export as chunks of text, a page of rows each. Rows are read by id, so one that changes
 * while the export runs appears once, as it was when its page was read.
 */
export async function* statsExport(store: PublicStore, kind: StatsKind, format: StatsFormat, now: number, racHalfLifeMs: number): AsyncGenerator<string> {
  yield format === 'json'
    ? `{"kind":"${kind}","generatedAt":${now},"racHalfLifeMs":${racHalfLifeMs},"entries":[\n`
    : `<?xml version="1.0" encoding="UTF-8"?>\n<${kind} generated_at="${seconds(now)}">\n`;
  let after = 0;
  let first = true;
  for (;;) {
    const rows = await store.stats(kind, after, PAGE);
    if (rows.length === 0) break;
    let chunk = '';
    for (const r of rows) {
      const e = statsEntry(kind, r);
      chunk += format === 'json' ? `${first ? '' : ',\n'}${JSON.stringify(e)}` : xmlRecord(kind, e);
      first = false;
    }
    yield chunk;
    after = rows[rows.length - 1]!.id;
    if (rows.length < PAGE) break;
    await nextTurn();
  }
  yield format === 'json' ? `${first ? '' : '\n'}]}\n` : `</${kind}>\n`;
}
