// What a result says the app logged: the last lines of its run, within the protocol's bounds
// (MAX_RESULT_LOG_LINES lines, MAX_RESULT_LOG_CHARS of text), and how many came before them.
// The end of a log is what explains how a run ended.
import { MAX_LOG_LINE_CHARS, MAX_RESULT_LOG_CHARS, MAX_RESULT_LOG_LINES } from './limits.js';
import type { AppLogLine } from './messages.js';

export interface AppLog {
  lines: AppLogLine[];
  omitted: number;
}

export class AppLogTail {
  private readonly lines: AppLogLine[] = [];
  private chars = 0;
  private omitted = 0;

  add(level: AppLogLine['level'], text: string): void {
    const line = { level, text: text.slice(0, MAX_LOG_LINE_CHARS) };
    this.lines.push(line);
    this.chars += line.text.length;
    while (this.lines.length > MAX_RESULT_LOG_LINES || this.chars > MAX_RESULT_LOG_CHARS) {
      this.chars -= this.lines.shift()!.text.length;
      this.omitted++;
    }
  }

  get log(): AppLog {
    return { lines: [...this.lines], omitted: this.omitted };
  }
}
