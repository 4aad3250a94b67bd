// A statement written for both backends, as PostgreSQL takes it: `?` and `@name` become `$n`,
// and camel-case column aliases are quoted (PostgreSQL folds unquoted names to lower case; SQLite
// keeps what was written, and the store's row types say `workunitId`). Literals, quoted names
// and comments are left as they are.
import type { SqlParams, SqlValue } from './sql.js';

export interface PostgresStatement {
  text: string;
  /** The values in `$n` order. */
  values(params: SqlParams): SqlValue[];
}

const CAMEL_ALIAS = /\bAS\s+([a-z][a-z0-9]*[A-Z][A-Za-z0-9]*)\b/g;

export function toPostgres(sql: string): PostgresStatement {
  let text = '';
  let positional = 0;
  const names: string[] = [];
  let code = '';
  const flushCode = () => {
    text += code.replace(CAMEL_ALIAS, 'AS "$1"');
    code = '';
  };
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      flushCode();
      text += sql.slice(i, end);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      flushCode();
      const stop = end === -1 ? sql.length : end;
      text += sql.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      positional += 1;
      code += `$${positional}`;
      i += 1;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const match = /^@([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i))!;
      let index = names.indexOf(match[1]!);
      if (index === -1) index = names.push(match[1]!) - 1;
      code += `$${index + 1}`;
      i += match[0].length;
    } else {
      code += c;
      i += 1;
    }
  }
  flushCode();
  if (positional > 0 && names.length > 0) throw new Error(`a statement uses both ? and @name parameters: ${sql}`);
  if (names.length > 0) {
    return {
      text,
      values(params) {
        if (Array.isArray(params)) throw new Error(`the statement takes named parameters (${names.join(', ')}), not a list`);
        const record = params as Readonly<Record<string, SqlValue>>;
        return names.map((name) => {
          if (!(name in record)) throw new Error(`missing parameter @${name}`);
          return record[name]!;
        });
      },
    };
  }
  return {
    text,
    values(params) {
      if (!Array.isArray(params)) throw new Error('the statement takes ? parameters, not named ones');
      if (params.length !== positional) throw new Error(`the statement takes ${positional} parameters, got ${params.length}`);
      return params as SqlValue[];
    },
  };
}

/** The index just past the quote that closes the one at start ('' and "" escape themselves). */
function closingQuote(sql: string, start: number, quote: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] !== quote) continue;
    if (sql[i + 1] === quote) i += 1;
    else return i + 1;
  }
  throw new Error(`an unclosed ${quote} in: ${sql}`);
}
