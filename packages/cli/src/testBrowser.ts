// Test helper (not exported): Debian's Chromium as the web UI's tests (ui.test.ts) and
// bench/ui.ts launch it.
import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium (scripts/chromium.sh installs it when missing), with the flags that work on
 * this machine. playwright-core adds `--headless` and a new, empty `--user-data-dir` for every
 * launch; the rest keep Chromium off a network it cannot reach.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
