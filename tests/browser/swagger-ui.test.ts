/**
 * Swagger UI in a real browser (Debian's Chromium, driven by playwright-core): open /docs,
 * authorize with a service token, run GET /users/missing, see a 200 with users. The screenshot
 * lands in test-results/swagger-ui.png. CI installs Chromium; where it is absent, this says so
 * and is skipped.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startApp, type TestApp } from '../helpers/app.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.info(`Swagger UI browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

describe.runIf(available)('Swagger UI at /docs, in Chromium', () => {
  let t: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    // Embedded mode with its demo users, exactly as `npm start` serves it.
    t = await startApp(null, { EMBEDDED_DATA_DIR: 'memory://' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('authorizes with a token, runs GET /users/missing and shows a 200 with users', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${t.url}/docs/`);
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    // The dialog lists every scheme; the service token's comes first.
    const serviceToken = page.locator('.dialog-ux .auth-container').filter({ hasText: 'serviceToken' });
    await serviceToken.locator('input').fill(ADMIN_TOKEN);
    await serviceToken.getByRole('button', { name: 'Apply credentials' }).click();
    await page.locator('.dialog-ux .close-modal').click();

    const operation = page.locator('#operations-users-get_users_missing');
    await operation.locator('.opblock-summary').click();
    // tryItOutEnabled is on (src/http/openapi.ts): the Execute button is there at once.
    await operation.getByRole('button', { name: 'Execute' }).click();

    const status = operation.locator('.live-responses-table .response .response-col_status').first();
    await expect.poll(async () => (await status.textContent())?.trim(), { timeout: 15_000 }).toBe('200');
    const body = await operation.locator('.live-responses-table .response-col_description pre').first().textContent();
    const parsed = JSON.parse(body ?? '{}') as { users?: { email: string }[] };
    expect(parsed.users?.length).toBeGreaterThan(0);

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/swagger-ui.png', fullPage: false });
    expect(errors).toEqual([]);
  });
});
