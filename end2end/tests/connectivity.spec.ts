import { type Locator, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, gotoHydrated, logOut, signUp, uniqueName } from './helpers';

// The connection test page (/connectivity). The e2e server has no STUN or TURN server configured, so the
// browser gathers host candidates only and the STUN/TURN rows must say "not configured" in plain words.

const PASSWORD = 'correct-horse-battery-9';

function row(page: Page, id: string): Locator {
  return page.getByTestId(`check-${id}`);
}

async function expectRow(page: Page, id: string, status: string, text: RegExp | string): Promise<void> {
  const r = row(page, id);
  await expect(r).toHaveAttribute('data-status', status, { timeout: 30_000 });
  await expect(r.getByTestId('status').first()).toHaveText(
    { ok: 'OK', warning: 'Warning', failed: 'Failed', waiting: 'Waiting' }[status] ?? status,
  );
  await expect(r).toContainText(text);
}

/** The preview shows live video: it has a size and its time advances. */
async function expectPlaying(video: Locator): Promise<void> {
  await expect(video).toBeVisible();
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(t0);
}

test('a signed-in user runs the connection test: camera, WebSocket and direct connections work', async ({ page }) => {
  const account = { username: uniqueName('conn'), displayName: 'Connie Test', password: PASSWORD };
  await signUp(page, account);
  await expectSignedInAs(page, account.displayName);

  // The home page links to the test.
  await page.getByRole('link', { name: 'Test your connection' }).click();
  await expect(page).toHaveURL('/connectivity');
  await gotoHydrated(page, '/connectivity');

  // Nothing runs (no camera prompt) before Start test.
  const verdict = page.getByTestId('verdict');
  await expect(verdict).toHaveAttribute('data-status', 'waiting');
  await expect(verdict).toContainText('Click Start test');
  for (const id of ['camera', 'websocket', 'direct', 'stun', 'turn']) {
    await expect(row(page, id)).toHaveAttribute('data-status', 'waiting');
  }
  await expect(page.getByTestId('camera-preview')).toBeHidden();

  await page.getByRole('button', { name: 'Start test' }).click();

  await expectRow(page, 'camera', 'ok', 'Your camera and microphone work');
  await expect(row(page, 'camera')).toContainText('Camera: ');
  await expect(row(page, 'camera')).toContainText('Microphone: ');
  await expectPlaying(page.getByTestId('camera-preview'));

  await expectRow(page, 'websocket', 'ok', /Connected to the server \(round trip \d+ ms\)\./);
  await expectRow(page, 'direct', 'ok', 'Direct connections on this network: yes');
  await expectRow(page, 'stun', 'warning', 'Public address found through STUN: no (no STUN server is configured)');
  await expectRow(page, 'turn', 'warning', 'TURN relay: not configured — calls from strict networks may fail');

  // Without STUN/TURN the verdict is a warning, and the test can run again.
  await expect(verdict).toHaveAttribute('data-status', 'warning');
  await expect(verdict).toContainText('Calls should work, with limits');
  await page.screenshot({ path: test.info().outputPath('connectivity.png'), fullPage: true });

  const again = page.getByRole('button', { name: 'Run again' });
  await expect(again).toBeEnabled();
  await again.click();
  await expectRow(page, 'camera', 'ok', 'Your camera and microphone work');
  await expectRow(page, 'websocket', 'ok', /round trip \d+ ms/);
  await expectRow(page, 'direct', 'ok', 'Direct connections on this network: yes');
  await expect(verdict).toHaveAttribute('data-status', 'warning');
  await expectPlaying(page.getByTestId('camera-preview'));
});

test('a signed-out visitor is asked to log in for the WebSocket check and comes back to the test', async ({ page }) => {
  const account = { username: uniqueName('connout'), displayName: 'Outside Olly', password: PASSWORD };
  await signUp(page, account);
  await expectSignedInAs(page, account.displayName);
  await logOut(page);

  await gotoHydrated(page, '/connectivity');
  const ws = row(page, 'websocket');
  await expectRow(page, 'websocket', 'warning', 'the server accepts connections only from signed-in users');
  const login = ws.getByRole('link', { name: 'Log in' });
  await expect(login).toHaveAttribute('href', '/login?next=/connectivity');

  // The rest of the test still runs for a visitor.
  await page.getByRole('button', { name: 'Start test' }).click();
  await expectRow(page, 'camera', 'ok', 'Your camera and microphone work');
  await expectRow(page, 'direct', 'ok', 'Direct connections on this network: yes');
  await expectRow(page, 'turn', 'warning', 'TURN relay: not tested');
  await expect(ws).toHaveAttribute('data-status', 'warning');

  // The log-in link comes back here.
  await login.click();
  await expect(page).toHaveURL('/login?next=/connectivity');
  await page.locator('input[name="username"]').fill(account.username);
  await page.locator('input[name="password"]').fill(account.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(page).toHaveURL('/connectivity');
  await expect(row(page, 'websocket')).toHaveAttribute('data-status', 'waiting');
});
