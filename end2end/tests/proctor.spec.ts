import { type Browser, type Locator, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, gotoHydrated, signUp, uniqueName } from './helpers';

// Issue #5: one teacher, one co-invigilator and three students; the grid shows three live thumbnails that
// play; both invigilators open the same student and both see playing video; a student switching tabs shows a
// flag on their card; a student closing their page shows "disconnected" within 5 s; the audit report lists
// both invigilators' views.

const PASSWORD = 'correct-horse-battery-9';

interface Person {
  page: Page;
  username: string;
  name: string;
}

async function person(browser: Browser, prefix: string, name: string): Promise<Person> {
  const page = await (await browser.newContext()).newPage();
  const username = uniqueName(prefix);
  await signUp(page, { username, displayName: name, password: PASSWORD });
  await expectSignedInAs(page, name);
  return { page, username, name };
}

async function expectPlaying(video: Locator): Promise<void> {
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0);
}

test('invigilators watch three students live, with flags, disconnects and an audit', async ({ browser }) => {
  test.setTimeout(180_000);
  const teacher = await person(browser, 'teacher', 'Tess Teacher');
  const co = await person(browser, 'co', 'Cody Coinvigilator');
  const students = [
    await person(browser, 'stu', 'Stu One'),
    await person(browser, 'stu', 'Stu Two'),
    await person(browser, 'stu', 'Stu Three'),
  ];

  // The teacher creates the test and adds its members.
  const t = teacher.page;
  await gotoHydrated(t, '/tests/new');
  await t.getByLabel('Title').fill('Algebra quiz');
  await t.getByLabel('Questions').fill('What is 2 + 2?\nName a prime number.');
  await t.getByRole('button', { name: 'Create test' }).click();
  await expect(t).toHaveURL(/\/tests\/[0-9a-f-]{36}$/);
  const testPath = new URL(t.url()).pathname;
  const members = t.getByRole('region', { name: 'Members' });
  for (const [p, role] of [...students.map((s) => [s, 'student'] as const), [co, 'invigilator'] as const]) {
    await members.getByLabel('Username').fill(p.username);
    await members.getByLabel('Role').selectOption(role);
    await members.getByRole('button', { name: 'Add' }).click();
    await expect(members.getByTestId('member').filter({ hasText: p.name })).toBeVisible();
  }

  // The students start: camera first, then the questions; answers save as they type.
  for (const s of students) {
    await gotoHydrated(s.page, `${testPath}/take`);
    await s.page.getByRole('button', { name: 'Turn on camera and start' }).click();
    await expect(s.page.getByTestId('stream-indicator')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    await expect(s.page.getByText('What is 2 + 2?')).toBeVisible();
  }
  await students[0].page.getByTestId('answer').first().fill('4');
  await expect(students[0].page.getByTestId('save-state').first()).toHaveText('Saved');

  // Both invigilators open the grid: three live cards with playing thumbnails.
  for (const inv of [teacher, co]) {
    await gotoHydrated(inv.page, `${testPath}/invigilate`);
    const cards = inv.page.getByTestId('student-card');
    await expect(cards).toHaveCount(3);
    for (const s of students) {
      const card = cards.filter({ hasText: s.name });
      await expect(card).toHaveAttribute('data-state', 'live');
      await expectPlaying(card.getByTestId('thumbnail'));
    }
  }

  // Both open Stu One at the same time and both see playing video.
  for (const inv of [teacher, co]) {
    await inv.page.getByRole('button', { name: 'Watch Stu One' }).click();
    await expect(inv.page.getByTestId('student-modal')).toBeVisible();
  }
  for (const inv of [teacher, co]) {
    await expectPlaying(inv.page.getByTestId('modal-video'));
  }

  // Stu Two switches to another tab: a flag shows on their card. Headless Chromium fires no focus or
  // visibility events when another tab comes to the front, so the test sends the `blur` a windowed browser
  // would; everything after it (page → server → invigilators' grid) is real.
  const other = await students[1].page.context().newPage();
  await other.goto('about:blank');
  await other.bringToFront();
  await students[1].page.evaluate(() => window.dispatchEvent(new Event('blur')));
  const twoCard = teacher.page.getByTestId('student-card').filter({ hasText: 'Stu Two' });
  await expect(twoCard.getByTestId('flag-count')).not.toHaveText('0 flags');
  await expect(twoCard.getByTestId('latest-flag')).toBeVisible();

  // Stu Three closes the page: "disconnected" within 5 s.
  await students[2].page.close();
  const threeCard = teacher.page.getByTestId('student-card').filter({ hasText: 'Stu Three' });
  await expect(threeCard).toHaveAttribute('data-state', 'disconnected', { timeout: 5_000 });
  await expect(threeCard.getByTestId('student-state')).toContainText('Disconnected');

  // Closing the modals ends the views; the audit report lists both invigilators.
  for (const inv of [teacher, co]) {
    await inv.page.getByTestId('student-modal').getByRole('button', { name: 'Close' }).click();
    await expect(inv.page.getByTestId('student-modal')).toHaveCount(0);
  }
  await gotoHydrated(t, `${testPath}/report`);
  const rows = t.getByTestId('audit-row');
  await expect(rows.filter({ hasText: 'Tess Teacher' }).filter({ hasText: 'Stu One' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'Cody Coinvigilator' }).filter({ hasText: 'Stu One' })).toHaveCount(1);

  // A student cannot open the grid.
  await gotoHydrated(students[0].page, `${testPath}/invigilate`);
  await expect(students[0].page.getByTestId('test-forbidden')).toBeVisible();
});
