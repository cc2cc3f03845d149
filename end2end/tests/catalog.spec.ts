import { type Locator, type Page } from '@playwright/test';
import { expect, test, expectSignedInAs, gotoHydrated, signUp, uniqueName, waitHydrated } from './helpers';

// Issue #4 (catalog): a seller adds a product with an image on /sell/products, sees it listed with its
// price and stock, edits the stock, deletes it; bad input shows a message on the field and changes nothing.

const PASSWORD = 'correct-horse-battery-9';

/** A real 1×1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGN4KOsBAAMpAUf+vsNwAAAAAElFTkSuQmCC',
  'base64',
);

async function newSeller(page: Page): Promise<void> {
  await signUp(page, { username: uniqueName('seller'), displayName: 'Sam Seller', password: PASSWORD });
  await expectSignedInAs(page, 'Sam Seller');
}

async function fillProduct(
  form: Locator,
  p: { name?: string; description?: string; price?: string; stock?: string },
): Promise<void> {
  if (p.name !== undefined) await form.getByLabel('Name', { exact: true }).fill(p.name);
  if (p.description !== undefined) await form.getByLabel('Description', { exact: true }).fill(p.description);
  if (p.price !== undefined) await form.getByLabel('Price', { exact: true }).fill(p.price);
  if (p.stock !== undefined) await form.getByLabel('Stock', { exact: true }).fill(p.stock);
}

test('a seller adds a product, sees it listed, edits its stock and deletes it', async ({ page }) => {
  await newSeller(page);

  // The nav leads to the catalog.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My products' }).click();
  await expect(page).toHaveURL('/sell/products');
  await expect(page.getByRole('heading', { name: 'My products', level: 1 })).toBeVisible();
  await expect(page.getByTestId('catalog-empty')).toBeVisible();

  const add = page.getByTestId('add-product');
  await fillProduct(add, { name: 'Desk lamp', description: 'Warm LED, dimmable.', price: '12.50', stock: '5' });
  // The image is uploaded as soon as it is chosen, and previewed.
  await add.getByLabel('Image', { exact: true }).setInputFiles({ name: 'lamp.png', mimeType: 'image/png', buffer: PNG });
  await expect(add.locator('.image-picker img')).toHaveAttribute('src', /^\/media\/products\/[0-9a-f-]{36}$/);
  await add.getByRole('button', { name: 'Add product' }).click();

  await expect(add.getByRole('status')).toContainText('Added “Desk lamp”');
  const items = page.getByTestId('product');
  await expect(items).toHaveCount(1);
  const item = items.first();
  await expect(item.getByTestId('product-name')).toHaveText('Desk lamp');
  await expect(item.getByTestId('product-price')).toHaveText('$12.50');
  await expect(item.getByTestId('product-stock')).toHaveText('5 in stock');
  await expect(item).toContainText('Warm LED, dimmable.');
  const img = item.locator('img.catalog-thumb');
  await expect(img).toHaveAttribute('src', /^\/media\/products\//);
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBe(1);
  // The add form is empty again.
  await expect(add.getByLabel('Name', { exact: true })).toHaveValue('');

  // Edit the stock in place.
  const id = await item.getAttribute('data-product-id');
  const row = page.locator(`[data-product-id="${id}"]`);
  await row.getByRole('button', { name: 'Edit Desk lamp' }).click();
  await expect(row.getByLabel('Price', { exact: true })).toHaveValue('12.50');
  await expect(row.getByLabel('Stock', { exact: true })).toHaveValue('5');
  await row.getByLabel('Stock', { exact: true }).fill('7');
  await row.getByRole('button', { name: 'Save changes' }).click();
  await expect(row.getByTestId('product-stock')).toHaveText('7 in stock');
  await expect(row.getByTestId('product-price')).toHaveText('$12.50');

  // Server-rendered after a reload, too.
  await page.reload();
  await waitHydrated(page);
  await expect(row.getByTestId('product-stock')).toHaveText('7 in stock');

  // Delete, after a confirmation.
  await row.getByRole('button', { name: 'Delete Desk lamp' }).click();
  await row.getByRole('button', { name: 'Yes, delete' }).click();
  await expect(page.getByTestId('product')).toHaveCount(0);
  await expect(page.getByTestId('catalog-empty')).toBeVisible();
});

test('a bad price or a non-image file shows an error and changes nothing', async ({ page }) => {
  await newSeller(page);
  await gotoHydrated(page, '/sell/products');
  const add = page.getByTestId('add-product');

  await fillProduct(add, { name: 'Mug', price: '12.50', stock: '3' });
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(page.getByTestId('product')).toHaveCount(1);

  // A price that is not money.
  await fillProduct(add, { name: 'Broken', price: 'twelve', stock: '1' });
  await add.getByRole('button', { name: 'Add product' }).click();
  const price = add.getByLabel('Price', { exact: true });
  await expect(add.getByRole('alert').filter({ hasText: 'Enter the price in dollars and cents' })).toBeVisible();
  await expect(price).toHaveAttribute('aria-invalid', 'true');
  // What was typed stays, so it can be fixed.
  await expect(add.getByLabel('Name', { exact: true })).toHaveValue('Broken');

  // A zero price.
  await price.fill('0');
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(add.getByRole('alert').filter({ hasText: 'Price must be more than $0.00' })).toBeVisible();
  await expect(page.getByTestId('product')).toHaveCount(1);
  await expect(page.getByTestId('product-name')).toHaveText(['Mug']);

  // A text file dressed up as a PNG is refused by its bytes.
  await add.getByLabel('Image', { exact: true }).setInputFiles({
    name: 'notes.png',
    mimeType: 'image/png',
    buffer: Buffer.from('these are not pixels'),
  });
  await expect(add.getByRole('alert').filter({ hasText: 'not a PNG, JPEG, WebP or GIF' })).toBeVisible();
  await expect(add.getByTestId('image-placeholder')).toBeVisible();

  // Fixing the price adds the product.
  await price.fill('4.75');
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(page.getByTestId('product-name')).toHaveText(['Broken', 'Mug']);
  await expect(page.getByTestId('product-price')).toHaveText(['$4.75', '$12.50']);
});

test('the catalog fits a phone screen', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await newSeller(page);
  await gotoHydrated(page, '/sell/products');
  const add = page.getByTestId('add-product');
  await fillProduct(add, {
    name: 'A very long product name that goes on and on without stopping at all',
    price: '1234567.00',
    stock: '2',
  });
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(add.getByRole('alert').filter({ hasText: 'at most $1,000,000.00' })).toBeVisible();
  await add.getByLabel('Price', { exact: true }).fill('999999.99');
  await add.getByRole('button', { name: 'Add product' }).click();
  await expect(page.getByTestId('product-price')).toHaveText('$999,999.99');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
