import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

// Browser tests for onair. Run them with `make e2e` (or `make test` for everything). They start
// their own server from the release build on 127.0.0.1:3100 against the database onair_e2e,
// never the demo database `onair`. ONAIR_E2E_PORT and ONAIR_E2E_DB change both (for a second checkout
// running its browser tests at the same time).

const repoRoot = path.resolve(__dirname, '..');
const serverBinary = path.join(repoRoot, 'target', 'release', 'onair');
const PORT = Number(process.env.ONAIR_E2E_PORT ?? 3100);
const DB_NAME = process.env.ONAIR_E2E_DB ?? 'onair_e2e';
const baseURL = `http://127.0.0.1:${PORT}`;
// Live streams run in both delivery modes (issue #9): the main server uses the default (`sfu`, the server's
// forwarding unit, on a free UDP port of all interfaces, advertised like the default does, so that a `make run`
// next to it cannot take the port), and a second server on
// PORT + 1 with `--live-delivery p2p` (its own database) serves the project `p2p`, which runs live.spec.ts again.
const P2P_PORT = PORT + 1;
const p2pURL = `http://127.0.0.1:${P2P_PORT}`;

// `make e2e` passes a freshly recreated database. Run directly (`npx playwright test`), the
// runner asks scripts/ensure-db.sh for one; it sets the variable, so the worker processes it
// starts (which load this file again) inherit it and don't recreate the database.
if (!process.env.ONAIR_E2E_DATABASE_URL) {
  const out = execFileSync(path.join(repoRoot, 'scripts', 'ensure-db.sh'), ['--fresh', DB_NAME], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.env.ONAIR_E2E_DATABASE_URL = out.trim().split('\n').pop();
}
if (!process.env.ONAIR_E2E_P2P_DATABASE_URL) {
  const out = execFileSync(path.join(repoRoot, 'scripts', 'ensure-db.sh'), ['--fresh', `${DB_NAME}_p2p`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.env.ONAIR_E2E_P2P_DATABASE_URL = out.trim().split('\n').pop();
}

// A missing build fails the web server start with a clear message instead of "not found".
const missing = `echo "error: ${serverBinary} is missing: run 'cargo leptos build --release' (or 'make test') first" >&2; exit 1`;
const serverCommand = existsSync(serverBinary) ? `'${serverBinary}' --bind 127.0.0.1:${PORT} --sfu-udp 0.0.0.0:0` : missing;
const p2pServerCommand = existsSync(serverBinary)
  ? `'${serverBinary}' --bind 127.0.0.1:${P2P_PORT} --live-delivery p2p`
  : missing;

/** The environment of one e2e server. */
function serverEnv(port: number, databaseUrl: string): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  return {
    DATABASE_URL: databaseUrl,
    ONAIR_SITE_ROOT: 'target/site',
    LEPTOS_SITE_ROOT: 'target/site',
    LEPTOS_OUTPUT_NAME: 'onair',
    LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
    ONAIR_BIND: `127.0.0.1:${port}`,
    ONAIR_ALLOWED_ORIGINS: `${url},http://localhost:${port}`,
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
}

export default defineConfig({
  testDir: './tests',
  globalSetup: './global-setup.ts',
  // The machine has 2 cores, and the server and the browser need them.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: 'list',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL,
    trace: 'retain-on-failure',
    permissions: ['camera', 'microphone'],
    launchOptions: {
      // Debian's chromium: Playwright's own browser download is not possible here.
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required',
        '--allow-loopback-in-peer-connection',
      ],
    },
  },
  projects: [
    { name: 'chromium' },
    { name: 'p2p', testMatch: /live\.spec\.ts/, use: { baseURL: p2pURL } },
  ],
  webServer: [
    {
      command: serverCommand,
      cwd: repoRoot,
      url: `${baseURL}/healthz`,
      reuseExistingServer: false,
      // First start runs the migrations.
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
      env: serverEnv(PORT, process.env.ONAIR_E2E_DATABASE_URL as string),
    },
    {
      command: p2pServerCommand,
      cwd: repoRoot,
      url: `${p2pURL}/healthz`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
      env: serverEnv(P2P_PORT, process.env.ONAIR_E2E_P2P_DATABASE_URL as string),
    },
  ],
});
