// What a volunteer reports about a failure names no file of its machine (app-runtime/redact-paths.ts).
import { describe, expect, it } from 'vitest';
import { redactPaths } from '../../app-runtime/redact-paths.js';

describe('redactPaths', () => {
  it('removes file: URLs and absolute paths, POSIX and Windows, quoted, in frames or bare', () => {
    const cases: [string, string][] = [
      ['at runIn (file:///home/alice/volunteer-grid/app-runtime/run-app.ts:1:1132)', 'at runIn (<path>)'],
      ['at file:///home/alice/vg/app-runtime/run-app.ts:1:2963', 'at <path>'],
      ["ENOENT: no such file or directory, open '/home/alice smith/volunteer-data/journal/1.json'", "ENOENT: no such file or directory, open '<path>'"],
      ['at f (/home/alice smith/vg/x.js:1:2)', 'at f (<path>:1:2)'],
      ['at /home/alice/vg/x.js:1:2', 'at <path>:1:2'],
      ['Cannot find module /Users/alice/vg/volunteer-node/sandbox/worker-main.js', 'Cannot find module <path>'],
      ['EACCES: permission denied, mkdir /home/alice', 'EACCES: permission denied, mkdir <path>'],
      ['at f (C:\\Users\\alice\\vg\\x.js:3:4)', 'at f (<path>:3:4)'],
      ['open C:\\Users\\alice\\vg\\data', 'open <path>'],
      ['file:///C:/Users/alice/vg/x.js', '<path>'],
      ['share \\\\server\\alice\\vg', 'share <path>'],
      ['dataDir=/srv/volunteer/data', 'dataDir=<path>'],
    ];
    for (const [text, expected] of cases) expect(redactPaths(text), text).toBe(expected);
  });

  it("keeps the app's own module names, web addresses and ordinary messages", () => {
    for (const text of [
      "TypeError: Cannot read properties of null (reading 'x') (at f (app:util.js:2:8))",
      'at default (app:main.js:1:274)',
      'GET /app-versions/abc failed: HTTP 503',
      'the coordinator has no /files/0123abcd',
      'at http://127.0.0.1:8080/assets/worker-3f2a.js:1:2345',
      "SyntaxError: Unexpected token '/'",
      'SyntaxError: Invalid regular expression: /(/: Unterminated group',
      'the task used more than 1.5 s of CPU time',
      'ratio 3 / 4 and 1/2',
      'a checkpoint is at most 16777216 bytes',
    ]) {
      expect(redactPaths(text), text).toBe(text);
    }
  });
});
