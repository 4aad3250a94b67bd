// How the CLI lays out tables: the last column whole, wrapped to a terminal's width, and text
// from volunteers unable to drive the terminal.
import { describe, expect, it } from 'vitest';
import { formatTable, printable, wrap } from '../../cli/format.js';

describe('formatTable', () => {
  const message = 'Error: no luck with 2 (at run (app:main.js:1:68))';

  it('shows the last column whole, however long, when there is no width', () => {
    const long = `${message} ${'and more '.repeat(20).trim()}`;
    expect(formatTable(['SEQ', 'CODE', 'MESSAGE'], [[1, 'app_exception', long]])).toBe(`SEQ  CODE           MESSAGE\n  1  app_exception  ${long}`);
  });

  it('wraps the last column to the width, under its column, and keeps its own line breaks', () => {
    const table = formatTable(['SEQ', 'CODE', 'MESSAGE'], [[1, 'app_exception', `${message}\nsecond line`], [12, 'cpu_limit', 'short']], { width: 50 });
    expect(table).toBe(
      [
        'SEQ  CODE           MESSAGE',
        '  1  app_exception  Error: no luck with 2 (at run',
        '                    (app:main.js:1:68))',
        '                    second line',
        ' 12  cpu_limit      short',
      ].join('\n'),
    );
    for (const line of table.split('\n')) expect(line.length).toBeLessThan(50);
  });

  it('makes control characters from elsewhere visible instead of obeying them', () => {
    expect(printable('red \x1b[31mtext\x07\r\nnext\tcolumn')).toBe('red \\u001b[31mtext\\u0007\nnext column');
    expect(formatTable(['HOST', 'MESSAGE'], [['evil\x1b[2J', 'boom\x1b[1A']])).toBe('HOST           MESSAGE\nevil\\u001b[2J  boom\\u001b[1A');
  });
});

describe('wrap', () => {
  it('breaks between words, and cuts a word longer than a line', () => {
    expect(wrap('a bb ccc dddd', 6)).toEqual(['a bb', 'ccc', 'dddd']);
    expect(wrap('x'.repeat(13), 5)).toEqual(['xxxxx', 'xxxxx', 'xxx']);
    expect(wrap('ab cdefghij', 5)).toEqual(['ab', 'cdefg', 'hij']);
    expect(wrap('fits', 10)).toEqual(['fits']);
  });
});
