import { type Browser, type Locator, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, gotoHydrated, signUp, uniqueName } from './helpers';

// Issue #4 (chat): in a live stream, shoppers and the seller chat; messages arrive for everyone without
// reload and show as text, never HTML; the seller deletes a message (gone for everyone) and mutes a
// shopper (their input is disabled, also after a reload); sending too fast, empty or too long messages
// show a clear message.

const PASSWORD = 'correct-horse-battery-9';

async function newUser(browser: Browser, prefix: string, displayName: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, { username: uniqueName(prefix), displayName, password: PASSWORD });
  await expectSignedInAs(page, displayName);
  return page;
}

/** Starts a live stream for the page's user through the server function, as the Go Live form does. */
async function goLive(page: Page, title: string): Promise<string> {
  const origin = new URL(page.url()).origin;
  const res = await page.request.post('/api/go_live', {
    form: { title, description: 'Chat test', category: 'other' },
    headers: { Origin: origin },
  });
  expect(res.status(), await res.text()).toBe(200);
  return (await res.json()) as string;
}

function chat(page: Page): Locator {
  return page.getByTestId('chat');
}

function messages(page: Page): Locator {
  return chat(page).getByTestId('chat-message');
}

function messageWith(page: Page, text: string): Locator {
  return messages(page).filter({ hasText: text });
}

/** Types `text` in the chat input and presses Enter. */
async function say(page: Page, text: string): Promise<void> {
  const input = chat(page).getByRole('textbox', { name: 'Chat message' });
  await input.fill(text);
  await input.press('Enter');
}

/** Says `text` and waits until it is sent (the input clears). */
async function sayAndWait(page: Page, text: string): Promise<void> {
  await say(page, text);
  await expect(chat(page).getByRole('textbox', { name: 'Chat message' })).toHaveValue('');
}

test('shoppers and the seller chat live; the seller deletes and mutes', async ({ browser }) => {
  test.setTimeout(120_000);
  const title = `Chat stream ${uniqueName('t')}`;
  const seller = await newUser(browser, 'seller', 'Sam Seller');
  const ada = await newUser(browser, 'ada', 'Ada Shopper');
  const ben = await newUser(browser, 'ben', 'Ben Shopper');
  for (const page of [seller, ada, ben]) {
    page.on('dialog', (dialog) => {
      throw new Error(`unexpected dialog: ${dialog.message()}`);
    });
  }

  const stream = await goLive(seller, title);
  await gotoHydrated(seller, `/live/${stream}`);
  await expect(seller.getByRole('button', { name: 'End stream' })).toBeVisible();
  for (const page of [ada, ben]) {
    await gotoHydrated(page, `/live/${stream}`);
    await expect(chat(page).getByText('No messages yet. Say hello!')).toBeVisible();
  }

  // A message that looks like HTML arrives everywhere as text; the counter counts characters.
  const html = '<img src=x onerror=alert(1)>';
  await chat(ada).getByRole('textbox', { name: 'Chat message' }).fill(html);
  await expect(chat(ada).getByTestId('chat-counter')).toHaveText(`${html.length}/500`);
  await ada.keyboard.press('Enter');
  for (const page of [ada, ben, seller]) {
    const msg = messageWith(page, html);
    await expect(msg).toHaveCount(1);
    await expect(msg).toContainText('Ada Shopper');
    await expect(msg.locator('time')).toHaveText(/^\d\d:\d\d$/);
    await expect(chat(page).locator('img')).toHaveCount(0);
  }

  // The seller's messages are marked.
  await sayAndWait(seller, 'Welcome, everyone!');
  const fromSeller = messageWith(ben, 'Welcome, everyone!');
  await expect(fromSeller.locator('.chat-badge')).toHaveText('Seller');
  await expect(messageWith(ben, html).locator('.chat-badge')).toHaveCount(0);
  await expect(messages(ben)).toHaveCount(2);
  // Only the seller has moderation buttons, and none to mute themselves.
  await expect(chat(ben).getByRole('button', { name: /^Delete message from/ })).toHaveCount(0);
  await expect(chat(seller).getByRole('button', { name: 'Mute Sam Seller' })).toHaveCount(0);

  // Delete: gone for everyone, live.
  await sayAndWait(ada, 'something rude');
  await expect(messageWith(ben, 'something rude')).toHaveCount(1);
  await messageWith(seller, 'something rude')
    .getByRole('button', { name: 'Delete message from Ada Shopper' })
    .click();
  for (const page of [seller, ada, ben]) {
    await expect(messageWith(page, 'something rude')).toHaveCount(0);
  }
  await expect(messages(ben)).toHaveCount(2);

  // Mute: Ada's input is disabled with an explanation, also after a reload; Ben can still talk.
  await messageWith(seller, html).getByRole('button', { name: 'Mute Ada Shopper' }).click();
  await expect(chat(ada).getByTestId('chat-muted')).toBeVisible();
  await expect(chat(ada).getByRole('textbox', { name: 'Chat message' })).toBeDisabled();
  await expect(chat(ada).getByRole('button', { name: 'Send' })).toBeDisabled();
  await expect(messageWith(seller, html).getByRole('button', { name: 'Mute Ada Shopper' })).toHaveText('Muted');
  await gotoHydrated(ada, `/live/${stream}`);
  await expect(messages(ada)).toHaveCount(2);
  await expect(chat(ada).getByTestId('chat-muted')).toBeVisible();
  await expect(chat(ada).getByRole('textbox', { name: 'Chat message' })).toBeDisabled();
  await expect(chat(ben).getByRole('textbox', { name: 'Chat message' })).toBeEnabled();

  // Empty and too long: a clear message, nothing sent.
  await say(ben, '   ');
  await expect(chat(ben).getByRole('alert')).toHaveText('Type a message first.');
  await chat(ben).getByRole('textbox', { name: 'Chat message' }).fill('x'.repeat(501));
  await expect(chat(ben).getByTestId('chat-counter')).toHaveText('501/500');
  await ben.keyboard.press('Enter');
  await expect(chat(ben).getByRole('alert')).toHaveText('Messages can be at most 500 characters.');
  await expect(messages(ada)).toHaveCount(2);

  // Too fast: the limit allows a burst of 5, then one a second.
  const tooFast = chat(ben).getByRole('alert').filter({ hasText: "You're sending messages too fast. Wait a moment." });
  const input = chat(ben).getByRole('textbox', { name: 'Chat message' });
  let refused = false;
  for (let i = 0; i < 15 && !refused; i += 1) {
    await say(ben, `fast ${i}`);
    await expect.poll(async () => (await tooFast.count()) > 0 || (await input.inputValue()) === '').toBe(true);
    refused = (await tooFast.count()) > 0;
  }
  await expect(tooFast).toBeVisible();
  await expect(input).toHaveValue(/^fast \d+$/);
});
