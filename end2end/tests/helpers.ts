import { expect, test as base, type Page } from '@playwright/test';

/** Playwright's `test`, plus: the browser contexts a test opened (`browser.newContext()`) are closed when it
 *  ends. The browser is shared by every test of the worker and Playwright leaves such contexts open, so an
 *  earlier test's pages (a seller still publishing, shoppers still receiving) would otherwise run on through
 *  the rest of the suite, taking CPU and the forwarding unit's bandwidth from later tests. */
export const test = base.extend<{ closeContexts: void }>({
  closeContexts: [
    async ({ browser }, use) => {
      await use();
      await Promise.all(browser.contexts().map((context) => context.close()));
    },
    { auto: true },
  ],
});
export { expect };

/** Navigates to `path` and waits until the WASM bundle hydrated the page (the app then sets
 *  `data-hydrated="true"` on <body>); before that, clicks and typing would be lost. */
export async function gotoHydrated(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await waitHydrated(page);
}

/** Waits until the current page is hydrated (after a navigation that reloaded the page). */
export async function waitHydrated(page: Page): Promise<void> {
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached({ timeout: 15_000 });
}

let counter = 0;

/** A username unique to this run: lowercase letters, digits and `_`, at most 32 characters. */
export function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '').slice(0, 12) || 'u';
  counter += 1;
  const stamp = Date.now().toString(36);
  const rand = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
  return `${clean}_${stamp}${counter.toString(36)}${rand}`.slice(0, 32);
}

export interface NewAccount {
  username: string;
  displayName: string;
  password: string;
}

/** Fills and submits the sign-up form. It does not check the outcome: see expectSignedInAs. */
export async function signUp(page: Page, account: NewAccount): Promise<void> {
  await gotoHydrated(page, '/signup');
  await page.locator('input[name="username"]').fill(account.username);
  await page.locator('input[name="display_name"]').fill(account.displayName);
  await page.locator('input[name="password"]').fill(account.password);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
}

/** Fills and submits the log-in form. It does not check the outcome: see expectSignedInAs. */
export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await gotoHydrated(page, '/login');
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

/** Clicks "Log out" in the nav and waits until the nav shows the signed-out links. */
export async function logOut(page: Page): Promise<void> {
  await waitHydrated(page);
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await expectSignedOut(page);
}

/** The app went to `/` and the nav shows the account's display name and "Log out". */
export async function expectSignedInAs(page: Page, displayName: string): Promise<void> {
  await expect(page).toHaveURL('/');
  await expect(page.getByTestId('account-name')).toHaveText(displayName);
  await expect(page.getByRole('button', { name: 'Log out', exact: true })).toBeVisible();
}

/** The nav shows "Log in" and "Sign up" links and no account name. */
export async function expectSignedOut(page: Page): Promise<void> {
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Log in', exact: true })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Sign up', exact: true })).toBeVisible();
  await expect(page.getByTestId('account-name')).toHaveCount(0);
}

/** What the seller types into the Go Live form. `category` is a label of the category list (default: the
 *  form's preselected category); `description` may be left out. */
export interface GoLiveForm {
  title: string;
  description?: string;
  category?: string;
}

/** Goes live through the `/live/new` form as a person would: fills it, waits until Go Live is enabled and
 *  the camera preview shows frames, clicks it, and waits for the seller's control room (End stream).
 *  Returns the stream's path (`/live/<uuid>`). */
export async function goLiveWithForm(seller: Page, form: GoLiveForm): Promise<string> {
  await gotoHydrated(seller, '/live/new');
  await seller.getByLabel('Title').fill(form.title);
  if (form.description !== undefined) await seller.getByLabel('Description').fill(form.description);
  if (form.category !== undefined) await seller.getByLabel('Category').selectOption({ label: form.category });
  const goLive = seller.getByRole('button', { name: 'Go Live', exact: true });
  await expect(goLive).toBeEnabled({ timeout: 15_000 });
  await expect
    .poll(() => seller.getByTestId('preview').evaluate((v: HTMLVideoElement) => v.videoWidth))
    .toBeGreaterThan(0);
  await goLive.click();
  await expect(seller).toHaveURL(/\/live\/[0-9a-f-]{36}$/);
  await expect(seller.getByRole('button', { name: 'End stream' })).toBeVisible();
  return new URL(seller.url()).pathname;
}

/** The decoded resolution in a watch page's stats panel, as `[width, height]` (`[0, 0]` before the first frame). */
export async function resolution(page: Page): Promise<[number, number]> {
  const text = (await page.getByTestId('resolution').textContent()) ?? '';
  const m = text.match(/^(\d+)×(\d+)$/);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
