import { type Browser, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, goLiveWithForm, gotoHydrated, signUp, uniqueName } from './helpers';

// Issue #4: the seller features a product at a special price → both shoppers see it with the list price
// struck through; shopper A buys 2 → both shoppers see the stock go down and the seller's orders list shows
// the order; shopper B chats → A and the seller see it; the seller deletes it → it disappears for A and B;
// a message with HTML shows as text.

const PASSWORD = 'correct-horse-battery-9';

async function newUser(browser: Browser, prefix: string, displayName: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signUp(page, { username: uniqueName(prefix), displayName, password: PASSWORD });
  await expectSignedInAs(page, displayName);
  return page;
}

test('feature, buy and chat live with a seller and two shoppers', async ({ browser }) => {
  test.setTimeout(120_000);
  const seller = await newUser(browser, 'seller', 'Sam Seller');
  const ada = await newUser(browser, 'ada', 'Ada Shopper');
  const ben = await newUser(browser, 'ben', 'Ben Shopper');

  // The seller adds a product to the catalog.
  await gotoHydrated(seller, '/sell/products');
  const add = seller.getByTestId('add-product');
  await add.getByLabel('Name', { exact: true }).fill('Film camera');
  await add.getByLabel('Price', { exact: true }).fill('40.00');
  await add.getByLabel('Stock', { exact: true }).fill('10');
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(seller.getByTestId('product')).toHaveCount(1);

  // ... and goes live.
  const streamPath = await goLiveWithForm(seller, { title: `Cameras ${uniqueName('t')}` });

  for (const shopper of [ada, ben]) {
    await gotoHydrated(shopper, streamPath);
    await expect(shopper.getByTestId('player')).toHaveAttribute('data-status', 'connected', { timeout: 20_000 });
    await expect(shopper.getByTestId('no-featured')).toBeVisible();
  }

  // Feature it at a special price.
  const item = seller.getByTestId('shop-item').filter({ hasText: 'Film camera' });
  await item.getByLabel('Special price').fill('25.00');
  await item.getByRole('button', { name: 'Feature Film camera' }).click();
  await expect(item.getByText('Featured', { exact: true })).toBeVisible();

  for (const shopper of [ada, ben]) {
    const card = shopper.getByTestId('featured-product').filter({ hasText: 'Film camera' });
    await expect(card).toBeVisible();
    await expect(card.getByTestId('list-price')).toHaveText('$40.00');
    await expect(card.locator('s')).toHaveText('$40.00');
    await expect(card.getByTestId('special-price')).toHaveText('$25.00');
    await expect(card.getByTestId('stock')).toHaveText('10 left');
  }

  // Ada buys 2.
  const adaCard = ada.getByTestId('featured-product').filter({ hasText: 'Film camera' });
  await adaCard.getByLabel('Quantity').fill('2');
  await adaCard.getByRole('button', { name: 'Buy Film camera now' }).click();
  await expect(adaCard.getByTestId('order-confirmation')).toContainText(/Order #\d+ placed: 2 × Film camera for \$50\.00/);
  for (const shopper of [ada, ben]) {
    await expect(shopper.getByTestId('featured-product').getByTestId('stock')).toHaveText('8 left');
  }
  await expect(seller.getByTestId('seller-order')).toHaveCount(1);
  await expect(seller.getByTestId('seller-order').first()).toContainText('Ada Shopper bought 2 × Film camera');
  await expect(seller.getByTestId('revenue')).toHaveText('$50.00');
  await expect(seller.getByTestId('order-count')).toHaveText('1');

  // Ben chats; Ada and the seller see it.
  const say = async (page: Page, text: string) => {
    const chat = page.getByTestId('chat');
    await chat.getByLabel('Chat message', { exact: true }).fill(text);
    await chat.getByRole('button', { name: 'Send' }).click();
  };
  await say(ben, 'Is the lens included?');
  for (const page of [ada, seller, ben]) {
    await expect(page.getByTestId('chat-message').filter({ hasText: 'Is the lens included?' })).toBeVisible();
  }

  // The seller deletes it: gone for Ada and Ben.
  await seller.getByRole('button', { name: 'Delete message from Ben Shopper' }).click();
  for (const page of [ada, ben, seller]) {
    await expect(page.getByTestId('chat-message').filter({ hasText: 'Is the lens included?' })).toHaveCount(0);
  }

  // HTML in a message is shown as text, never run.
  const html = '<img src=x onerror=alert(1)>';
  let dialogs = 0;
  for (const page of [ada, ben, seller]) page.on('dialog', () => dialogs++);
  await say(ada, html);
  for (const page of [ada, ben, seller]) {
    const msg = page.getByTestId('chat-message').filter({ hasText: html });
    await expect(msg).toBeVisible();
    await expect(msg.locator('img')).toHaveCount(0);
  }
  expect(dialogs).toBe(0);

  // Ada's orders page lists the purchase.
  await gotoHydrated(ada, '/orders');
  await expect(ada.getByTestId('my-order')).toContainText('2 × Film camera from Sam Seller');
});
