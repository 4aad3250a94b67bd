// Summarises a V8 CPU profile (node --cpu-prof, or bench/main.ts --profile DIR): where the
// time went, by function (self and inclusive) and by file or package, as shares of the time
// the process was not idle.
// Usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ROOT } from './children.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  wallMs: number;
  busyMs: number;
  idleMs: number;
  selfByFunction: Row[];
  inclusiveByFunction: Row[];
  selfByFile: Row[];
}

/** Where a frame lives: a repository file, a package, Node's internals, or V8's own buckets. */
function place(url: string): string {
  if (url === '') return 'v8';
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `npm:${pkg[1]}`;
  if (path.startsWith('node:')) return path;
  return path.startsWith(`${ROOT}/`) ? path.slice(ROOT.length + 1) : path;
}

function label(f: CallFrame): string {
  const where = place(f.url);
  const name = f.functionName || '(anonymous)';
  if (where === 'v8') return name;
  // tsx compiles TypeScript without source maps in the profile: its line numbers are of the
  // compiled code, so a repository file is named without one.
  return /\.tsx?$/.test(where) ? `${where} ${name}` : `${where}:${f.lineNumber + 1} ${name}`;
}

const IDLE = new Set(['(idle)']);

export function summarise(profile: CpuProfile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    // A sample's time is the delta to the next one.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(id)!;
    if (IDLE.has(node.callFrame.functionName)) {
      idle += ms;
      return;
    }
    busy += ms;
    const own = label(node.callFrame);
    self.set(own, (self.get(own) ?? 0) + ms);
    const file = place(node.callFrame.url) === 'v8' ? node.callFrame.functionName : place(node.callFrame.url);
    files.set(file, (files.get(file) ?? 0) + ms);
    // Each function once per sample, however often it recurses.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + ms);
    }
  });
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Math.round(ms), share: busy > 0 ? Math.round((1000 * ms) / busy) / 10 : 0 }));
  return {
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    busyMs: Math.round(busy),
    idleMs: Math.round(idle),
    selfByFunction: rows(self),
    // The root and the event loop's own frames include everything: leave them out.
    inclusiveByFunction: rows(new Map([...inclusive].filter(([k]) => k !== '(root)' && !k.startsWith('node:') && !k.includes('(program)')))),
    selfByFile: rows(files),
  };
}

function print(s: ProfileSummary): string {
  const table = (title: string, rows: Row[]) =>
    [`${title}`, ...rows.map((r) => `  ${r.share.toFixed(1).padStart(5)} %  ${String(r.ms).padStart(7)} ms  ${r.name}`)].join('\n');
  return [
    `wall ${s.wallMs} ms, busy ${s.busyMs} ms, idle ${s.idleMs} ms (shares below are of busy time)`,
    table('self time by function', s.selfByFunction),
    table('inclusive time by function', s.inclusiveByFunction),
    table('self time by file or package', s.selfByFile),
  ].join('\n\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, json: { type: 'boolean', default: false } }, allowPositionals: true });
  const file = positionals[0];
  if (!file) {
    process.stderr.write('Usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--json]\n');
    process.exit(2);
  }
  const summary = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values.top));
  process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${print(summary)}\n`);
}
