import { type Browser, type Locator, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, gotoHydrated, signUp, uniqueName } from './helpers';

// Issue #6: three people in one room by link see each other's playing video; one mutes and the others see
// the muted icon; a data-channel chat message reaches both others; one leaves and the others see the tile
// go; two people on /match are paired, see each other, and Next ends it for both.

const PASSWORD = 'correct-horse-battery-9';

async function newUser(browser: Browser, prefix: string, displayName: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (process.env.ROOMS_DEBUG) page.on('console', (m) => console.log(`[${displayName}] ${m.type()}: ${m.text()}`));
  await signUp(page, { username: uniqueName(prefix), displayName, password: PASSWORD });
  await expectSignedInAs(page, displayName);
  return page;
}

/** A `<video>` plays: it has a frame size and its clock advances. */
async function expectVideoPlays(video: Locator): Promise<void> {
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0);
}

function tileOf(page: Page, name: string): Locator {
  return page.locator(`[data-testid="remote-tile"][data-name="${name}"]`);
}

async function joinRoom(page: Page, href: string): Promise<void> {
  await gotoHydrated(page, href);
  const join = page.getByTestId('join');
  await expect(join).toBeEnabled({ timeout: 15_000 });
  await join.click();
  await expect(page.getByTestId('local-tile')).toBeVisible();
}

test('three people in a room by link see, hear about and chat with each other', async ({ browser }) => {
  test.setTimeout(150_000);
  const ada = await newUser(browser, 'ada', 'Ada Room');
  const ben = await newUser(browser, 'ben', 'Ben Room');
  const cy = await newUser(browser, 'cy', 'Cy Room');

  // Ada creates the room and gets a link to share.
  await gotoHydrated(ada, '/rooms');
  await ada.getByLabel('Room name').fill('Team sync');
  await ada.getByRole('button', { name: 'Create room' }).click();
  await expect(ada).toHaveURL(/\/rooms\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/);
  await expect(ada.getByRole('heading', { name: 'Team sync' })).toBeVisible();
  const link = await ada.getByTestId('room-link').inputValue();
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/rooms\/[a-z-]+$/);
  const href = new URL(link).pathname;

  // All three join at about the same time (perfect negotiation sorts out crossing offers).
  await joinRoom(ada, href);
  await Promise.all([joinRoom(ben, href), joinRoom(cy, href)]);

  const everyone: [Page, string][] = [[ada, 'Ada Room'], [ben, 'Ben Room'], [cy, 'Cy Room']];
  for (const [page, me] of everyone) {
    await expect(page.getByTestId('remote-tile')).toHaveCount(2, { timeout: 20_000 });
    await expect(page.getByTestId('participant-count')).toHaveText('3 people in the call');
    for (const [, other] of everyone.filter(([, n]) => n !== me)) {
      await expectVideoPlays(tileOf(page, other).getByTestId('remote-video'));
      // A quality badge from getStats appears for each remote tile.
      await expect(tileOf(page, other).getByTestId('quality')).toBeVisible({ timeout: 15_000 });
    }
  }

  // Ben mutes with the button; Ada and Cy see the muted icon on Ben's tile. The keyboard shortcut unmutes.
  await expect(ada.getByTestId('remote-tile').getByTestId('muted-icon')).toHaveCount(0);
  await ben.getByRole('button', { name: 'Mute microphone (M)' }).click();
  await expect(ben.getByRole('button', { name: 'Unmute microphone (M)' })).toHaveAttribute('aria-pressed', 'true');
  for (const page of [ada, cy]) {
    await expect(tileOf(page, 'Ben Room').getByTestId('muted-icon')).toBeVisible({ timeout: 10_000 });
    await expect(tileOf(page, 'Cy Room').getByTestId('muted-icon')).toHaveCount(0);
  }
  await ben.locator('body').press('m');
  for (const page of [ada, cy]) {
    await expect(tileOf(page, 'Ben Room').getByTestId('muted-icon')).toHaveCount(0, { timeout: 10_000 });
  }

  // Cy turns the camera off: the others see the camera-off icon.
  await cy.getByRole('button', { name: 'Turn camera off (V)' }).click();
  await expect(tileOf(ada, 'Cy Room').getByTestId('camera-off-icon')).toBeVisible({ timeout: 10_000 });

  // Ada shares her screen: the others see "Sharing screen" and the screen's picture instead of the camera's;
  // stopping goes back to the camera (replaceTrack both ways, no renegotiation). The fake screen is 16:9
  // (1280×720) and the fake camera 4:3 (640×480); the sender's encoder may scale either down while it adapts
  // to bandwidth and CPU (480×360 was seen), so the test tells them apart by their aspect ratio, not their width.
  const adaVideoAtBen = tileOf(ben, 'Ada Room').getByTestId('remote-video');
  const shape = () =>
    adaVideoAtBen.evaluate((v: HTMLVideoElement) => {
      if (v.videoHeight === 0) return 'no picture';
      const ratio = v.videoWidth / v.videoHeight;
      if (Math.abs(ratio - 16 / 9) < 0.05) return '16:9';
      if (Math.abs(ratio - 4 / 3) < 0.05) return '4:3';
      return `${v.videoWidth}x${v.videoHeight}`;
    });
  await expect.poll(shape).toBe('4:3');
  await ada.getByRole('button', { name: 'Share your screen' }).click();
  await expect(ada.getByRole('button', { name: 'Stop sharing your screen' })).toBeVisible({ timeout: 10_000 });
  await expect(tileOf(ben, 'Ada Room')).toContainText('Sharing screen', { timeout: 10_000 });
  await expect.poll(shape, { timeout: 10_000 }).toBe('16:9');
  await ada.getByRole('button', { name: 'Stop sharing your screen' }).click();
  await expect(tileOf(ben, 'Ada Room')).not.toContainText('Sharing screen', { timeout: 10_000 });
  await expect.poll(shape, { timeout: 10_000 }).toBe('4:3');

  // The stats panel shows the raw numbers.
  await tileOf(ada, 'Ben Room').getByRole('button', { name: 'Connection details for Ben Room' }).click();
  await expect(tileOf(ada, 'Ben Room').getByTestId('stats-panel')).toContainText('Round trip');

  // Chat over the data channels: Ada's message reaches Ben and Cy, as text.
  const text = `hello <b>${uniqueName('m')}</b>`;
  await ada.getByTestId('call-chat-input').fill(text);
  await ada.getByRole('button', { name: 'Send' }).click();
  for (const page of [ben, cy]) {
    const line = page.getByTestId('call-chat').locator('li', { hasText: text });
    await expect(line).toBeVisible({ timeout: 10_000 });
    await expect(line.locator('.chat-from')).toHaveText('Ada Room');
    await expect(line.locator('b', { hasText: 'hello' })).toHaveCount(0);
  }
  await expect(ada.getByTestId('call-chat').locator('li', { hasText: text }).locator('.chat-from')).toHaveText('You');

  // Cy leaves: the others see Cy's tile go.
  await cy.getByTestId('leave').click();
  await expect(cy.getByTestId('left-room')).toBeVisible();
  for (const page of [ada, ben]) {
    await expect(tileOf(page, 'Cy Room')).toHaveCount(0, { timeout: 10_000 });
    await expect(page.getByTestId('remote-tile')).toHaveCount(1);
  }

  // Ben closes the tab: Ada sees Ben's tile go too.
  await ben.context().close();
  await expect(ada.getByTestId('remote-tile')).toHaveCount(0, { timeout: 10_000 });
  await expect(ada.getByText('Nobody else is here yet.')).toBeVisible();
  await ada.context().close();
  await cy.context().close();
});

test('an unknown room link says so', async ({ browser }) => {
  const page = await newUser(browser, 'lost', 'Lost Person');
  await gotoHydrated(page, '/rooms/no-such-room');
  await expect(page.getByRole('heading', { name: 'Room not found' })).toBeVisible();
  await page.context().close();
});

test('two people on /match are paired, see each other, and Next ends it for both', async ({ browser }) => {
  test.setTimeout(120_000);
  const ada = await newUser(browser, 'mada', 'Ada Match');
  const ben = await newUser(browser, 'mben', 'Ben Match');

  for (const page of [ada, ben]) {
    await gotoHydrated(page, '/match');
    await expect(page.getByTestId('find-partner')).toBeEnabled({ timeout: 15_000 });
  }
  await ada.getByTestId('find-partner').click();
  await expect(ada.getByTestId('match-status')).toContainText('Looking for a partner');
  await ben.getByTestId('find-partner').click();

  await expect(ada.getByTestId('partner-name')).toHaveText('Ben Match', { timeout: 10_000 });
  await expect(ben.getByTestId('partner-name')).toHaveText('Ada Match');
  await expectVideoPlays(tileOf(ada, 'Ben Match').getByTestId('remote-video'));
  await expectVideoPlays(tileOf(ben, 'Ada Match').getByTestId('remote-video'));

  // Ada presses Next: she is looking again, Ben sees that his partner left and requeues.
  await ada.getByTestId('next').click();
  await expect(ada.getByTestId('match-status')).toContainText('Looking for a partner');
  await expect(ben.getByTestId('match-status')).toContainText('Your partner left', { timeout: 10_000 });
  await expect(ben.getByTestId('remote-tile')).toHaveCount(0);
  await expect(ada.getByTestId('remote-tile')).toHaveCount(0);
  await ben.getByTestId('find-partner').click();
  await expect(ben.getByTestId('match-status')).toContainText('Looking for a partner');
  // Nobody else is waiting, so after a while (10 s) the two meet again.
  await expect(ada.getByTestId('partner-name')).toHaveText('Ben Match', { timeout: 25_000 });
  await expect(ben.getByTestId('partner-name')).toHaveText('Ada Match');
  await ada.context().close();
  await ben.context().close();
});
