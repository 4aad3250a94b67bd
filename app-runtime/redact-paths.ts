// Where the volunteer installed the program is none of the researcher's business (it names
// the user, e.g. /home/alice/…): error messages and stack frames written on the volunteer's
// machine name its files. Every such path becomes "<path>". App modules keep their names:
// their frames read "app:main.js:3:9" (run-app.ts names them so); web addresses stay too.
const REDACTED = '<path>';
const SEGMENT = String.raw`[^\s/\\'"\x60()<>\[\]{},;:]+`;
/** Where an absolute path starts: "/" then a name (not "/" alone, nor "/=" in a message about syntax). */
const START = String.raw`(?:\/[\w.~-]|[A-Za-z]:[\\/]|\\\\)`;

const RULES: [RegExp, string][] = [
  // file:///home/alice/…, file:///C:/Users/…
  [/\bfile:\/\/[^\s'"`()<>]*/gi, REDACTED],
  // A quoted absolute path, spaces and all: open '/home/alice smith/x.json'
  [new RegExp(String.raw`(['"\x60])${START}[^'"\x60\n]*?\1`, 'g'), `$1${REDACTED}$1`],
  // A stack frame's location: at f (/home/alice smith/x.js:1:2)
  [new RegExp(String.raw`\(${START}[^()\n]*?(:\d+:\d+)?\)`, 'g'), `(${REDACTED}$1)`],
  // POSIX, at least two segments (a lone "/x" is more often a regex or a ratio than a path),
  // except the coordinator's own routes, which download errors name
  [new RegExp(String.raw`(^|[\s=,\[{<])\/(?!(?:files|app-versions)\/)${SEGMENT}(?:\/${SEGMENT})+\/?`, 'g'), `$1${REDACTED}`],
  // Windows, and UNC shares
  [new RegExp(String.raw`\b[A-Za-z]:[\\/](?:${SEGMENT}[\\/]?)*`, 'g'), REDACTED],
  [new RegExp(String.raw`\\\\${SEGMENT}(?:\\${SEGMENT})*`, 'g'), REDACTED],
];

/** `text` without absolute paths or file: URLs of this machine. */
export function redactPaths(text: string): string {
  let out = text;
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  return out;
}
