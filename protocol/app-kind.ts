// What kind of program an app version is. A JavaScript module is what every volunteer has run
// since protocol 1, and its manifest says nothing of its kind (so its bundle hash is what it
// always was); any other kind is named in the signed manifest, and a host says it runs that
// kind with a capability feature, so the coordinator never sends one to a volunteer that
// cannot run it (an older client lists no such feature). docs/apps.md is the contract.

export const APP_KINDS = ['javascript', 'wasi', 'python'] as const;
export type AppKind = (typeof APP_KINDS)[number];
/** The kinds a manifest names (JavaScript is the default, named by nothing). */
export const MANIFEST_KINDS = ['wasi', 'python'] as const;

/** The capability feature of a host that runs apps of `kind` (JavaScript needs none). */
export function kindFeature(kind: Exclude<AppKind, 'javascript'>): string {
  return `app-kind:${kind}`;
}

/** The features a volunteer of this code lists in hello: every kind it runs beyond JavaScript. */
export const RUNNABLE_KIND_FEATURES: readonly string[] = MANIFEST_KINDS.map(kindFeature);

/** The kind of a manifest. */
export function manifestKind(manifest: { kind?: AppKind | undefined }): AppKind {
  return manifest.kind ?? 'javascript';
}

/** The kind an entry file's name says it is, or undefined for a name that says none. */
export function kindOfEntry(entry: string): AppKind | undefined {
  if (/\.m?js$/.test(entry)) return 'javascript';
  if (entry.endsWith('.wasm')) return 'wasi';
  if (entry.endsWith('.py')) return 'python';
  return undefined;
}

/** The entry of a version when none is named: main.js, else main.mjs, else main.wasm, else main.py, whichever it has. */
export function defaultEntry(names: readonly string[]): string {
  return ['main.js', 'main.mjs', 'main.wasm', 'main.py'].find((n) => names.includes(n)) ?? 'main.js';
}

/** What a researcher reads: "a JavaScript module", "a WASI program". */
export function describeKind(kind: AppKind): string {
  if (kind === 'javascript') return 'a JavaScript module';
  if (kind === 'wasi') return 'a WASI program (wasm32-wasi, preview 1)';
  return 'a Python app (Pyodide, the standard library)';
}
