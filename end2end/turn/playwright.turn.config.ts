import { defineConfig } from '@playwright/test';

// The TURN-only test (end2end/turn/turn.spec.ts). Run it with `make turn-test` (scripts/turn-test.sh), which
// builds the network namespaces, starts coturn and the release server inside them and sets the
// ONAIR_TURN_* variables this suite reads; `npx playwright test` with the normal config never runs it.
// The spec launches its own browsers (one in namespace alice, one in bob), so there is no webServer here.

export default defineConfig({
  testDir: '.',
  testMatch: 'turn.spec.ts',
  outputDir: '../test-results/turn',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: 'list',
  timeout: 120_000,
  expect: { timeout: 10_000 },
  projects: [{ name: 'chromium-in-namespaces' }],
});
