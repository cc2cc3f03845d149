import {
  expect,
  test,
  expectSignedInAs,
  expectSignedOut,
  gotoHydrated,
  logIn,
  logOut,
  signUp,
  uniqueName,
  type NewAccount,
} from './helpers';

const PASSWORD = 'correct-horse-battery-9';

function newAccount(prefix: string, displayName: string): NewAccount {
  return { username: uniqueName(prefix), displayName, password: PASSWORD };
}

test('a new user signs up, logs out and logs back in', async ({ page }) => {
  const account = newAccount('alice', 'Alice Example');

  await gotoHydrated(page, '/');
  await expectSignedOut(page);

  await signUp(page, account);
  await expectSignedInAs(page, account.displayName);

  await logOut(page);

  await logIn(page, account.username, account.password);
  await expectSignedInAs(page, account.displayName);
});

test('a wrong password shows an error and the user stays signed out', async ({ page }) => {
  const account = newAccount('bob', 'Bob Example');
  await signUp(page, account);
  await expectSignedInAs(page, account.displayName);
  await logOut(page);

  await logIn(page, account.username, `${account.password}-wrong`);

  await expect(page.getByRole('alert').filter({ hasText: /wrong/i })).toBeVisible();
  await expectSignedOut(page);
});

test('signing up with a taken username shows an error', async ({ page }) => {
  const first = newAccount('carol', 'Carol First');
  await signUp(page, first);
  await expectSignedInAs(page, first.displayName);
  await logOut(page);

  await signUp(page, { username: first.username, displayName: 'Carol Second', password: PASSWORD });

  await expect(page.getByRole('alert').filter({ hasText: /taken/i })).toBeVisible();
  await expectSignedOut(page);
});
