// Real headless Chromium for browser tests, driven by playwright-core. Never downloads a
// browser: it uses the system's (Debian's `chromium` package) or CHROMIUM_PATH.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

const DEFAULT_PATH = '/usr/bin/chromium';

/** The Chromium executable, or null when there is none. */
export function findChromium(): string | null {
  const path = process.env.CHROMIUM_PATH || DEFAULT_PATH;
  return existsSync(path) ? path : null;
}

export function missingChromiumMessage(): string {
  const where = process.env.CHROMIUM_PATH ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist` : `no Chromium at ${DEFAULT_PATH}`;
  return `${where}: install it with \`apt-get install -y chromium\`, or set CHROMIUM_PATH to a Chromium or Chrome executable`;
}

/**
 * Whether browser tests should be skipped: only outside CI, where a missing browser is a
 * local setup matter (and says so). In CI (CI=true) they run, and fail if Chromium is missing.
 */
export function skipBrowserTests(suite: string): boolean {
  if (findChromium() || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: ${missingChromiumMessage()}`);
  return true;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(missingChromiumMessage());
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}
