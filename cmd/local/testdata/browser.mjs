// Drives the local mini-app page in headless Chromium: start the game (the guide's flow links the
// player), then disconnect in the Toss app, and prints what the page showed as JSON.
// Usage: node browser.mjs <playwright-core dir> <chromium> <page URL> <want events: true|false>
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [pwDir, chromium, pageURL, wantEvents] = process.argv.slice(2);
const { chromium: launcher } = createRequire(join(pwDir, 'noop.js'))('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'miniapp-chromium-'));
// A fresh profile each run: nothing cached from an earlier one.
const browser = await launcher.launchPersistentContext(profile, {
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = browser.pages()[0] ?? await browser.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  await page.goto(pageURL);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  const text = (id) => page.$eval(id, (e) => e.textContent);
  const until = async (id, s) => page.waitForFunction(([id, s]) => document.querySelector(id).textContent.includes(s), [id, s], { timeout: 20000 });

  await page.click('#start');
  await until('#state', 'true');
  if (wantEvents === 'true') await until('#events', 'UserLinked');
  const afterLink = await text('#state');

  await page.selectOption('#referrer', 'WITHDRAWAL_TOSS');
  await page.click('#disconnect');
  await until('#log', 'unlink callback');
  await until('#state', 'false');
  if (wantEvents === 'true') await until('#events', 'UserUnlinked');

  console.log(JSON.stringify({ afterLink, afterUnlink: await text('#state'), log: await text('#log'),
    events: await text('#events'), consoleErrors }));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
