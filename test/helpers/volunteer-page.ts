// What the volunteer page's browser tests share: the built page, an app added straight through
// the coordinator, and a read-only look at its database.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestCoordinator } from './test-coordinator.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Builds the page with Vite unless `npm test` (or an earlier suite) already did. */
export async function ensurePageBuilt(): Promise<void> {
  if (existsSync(join(ROOT, 'dist', 'volunteer', 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'volunteer-web', 'vite.config.ts'), logLevel: 'warn' });
}

/** An app of one module, `main.js`; its id. */
export async function addApp(c: TestCoordinator, projectId: number, name: string, source: string): Promise<number> {
  const app = await c.apps.createApp(projectId, { name });
  await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode(source) }] });
  return app.id;
}

/** Runs fn on a read-only connection to the coordinator's database, closed after. */
export function readDb<T>(c: TestCoordinator, fn: (db: Database.Database) => T): T {
  const db = new Database(join(c.dataDir, 'coordinator.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** A new browser context with these page settings saved, the page opened at `url` and started (Pause showing). */
export async function openStartedPage(browser: Browser, url: string, settings: object): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  await context.addInitScript(`localStorage.setItem('volunteer-grid.settings', ${JSON.stringify(JSON.stringify(settings))})`);
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.waitForSelector('#toggle');
  await page.click('#toggle');
  await page.waitForFunction(`document.querySelector('#toggle').textContent === 'Pause'`);
  return { context, page };
}
