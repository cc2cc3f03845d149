import type { FullConfig } from '@playwright/test';
import { existsSync } from 'node:fs';

// Runs once, after the web server answered on /healthz and before any browser starts.
// It turns the usual set-up mistakes into one clear message instead of timeouts in every test.
export default async function globalSetup(config: FullConfig): Promise<void> {
  const launch = config.projects[0]?.use?.launchOptions;
  const chromium = launch?.executablePath ?? '/usr/bin/chromium';
  if (!existsSync(chromium)) {
    throw new Error(
      `${chromium} is missing: run 'scripts/setup.sh --test' (as root) or 'apt-get install -y chromium'. ` +
        `Never 'npx playwright install': its browser download fails here.`,
    );
  }

  const baseURL = String(config.projects[0]?.use?.baseURL ?? 'http://127.0.0.1:3100');
  const res = await fetch(`${baseURL}/`);
  if (!res.ok) {
    throw new Error(`GET ${baseURL}/ answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
  }
  // The page must load the WASM bundle, or nothing will ever hydrate.
  const html = await res.text();
  const script = html.match(/\/pkg\/[\w.-]+\.js/)?.[0];
  if (!script) {
    console.warn(`global-setup: GET ${baseURL}/ names no /pkg/*.js script; skipping the bundle check`);
    return;
  }
  const js = await fetch(`${baseURL}${script}`);
  if (!js.ok) {
    throw new Error(
      `GET ${baseURL}${script} answered ${js.status}: target/site is missing or stale: run 'cargo leptos build --release'`,
    );
  }
}
