// The admin UI in browser tests: built before use, and logged into as a person would.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The UI is served from dist/admin; `npm test` builds it first, a lone vitest run may not have. */
export async function ensureUiBuilt(): Promise<void> {
  if (existsSync(join(ROOT, 'dist', 'admin', 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'admin-ui', 'vite.config.ts'), logLevel: 'warn' });
}

/** Logs in through the login screen and waits for the projects page. */
export async function logIn(page: Page, url: string, name: string, password: string): Promise<void> {
  await page.goto(`${url}/admin/`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
}
