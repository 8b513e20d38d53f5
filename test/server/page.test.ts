// The web chat page driven in headless Chromium (Debian's /usr/bin/chromium, installed by .ci/run):
// it shows the model, sends a message, streams the answer with the reasoning apart, and stops.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { expectedChat, health, startServer, waitFor, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium): the browser test of the chat page is skipped`;

let t: TestServer;
let browser: Browser;

before(async () => {
  if (skip) return;
  t = await startServer({ parallel: 2, ctx: 1024 });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await t?.close();
});

async function open(): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${t.url}/`);
  await page.waitForFunction("document.getElementById('model-name').textContent === 'moe-tiny'");
  assert.deepEqual(errors, []);
  return page;
}

test('the page sends a message and shows the streamed answer, reasoning apart', { skip }, async () => {
  const page = await open();
  assert.equal(await page.title(), 'moe-tiny · Pangu chat');
  // Max tokens is bounded by the server's context; empty by default (what the context leaves).
  assert.equal(await page.getAttribute('#max-tokens', 'max'), '1024');
  assert.equal(await page.inputValue('#max-tokens'), '');
  await page.click('#settings-toggle');
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '48');
  await page.selectOption('#thinking-mode', 'fast');
  await page.fill('#input', 'Hello there');
  await page.press('#input', 'Enter');
  await page.waitForSelector('.msg.assistant[data-done="true"]', { timeout: 20000 });
  const want = expectedChat([{ role: 'user', content: 'Hello there /no_think' }], 48);
  assert.equal(await page.textContent('.msg.user'), 'Hello there');
  assert.equal(await page.textContent('.msg.assistant .content'), want.content);
  assert.equal(await page.textContent('.msg.assistant .reasoning'), want.reasoning);
  // The reasoning block is shown only when there is reasoning, folded once the answer came.
  assert.equal(await page.isHidden('.msg.assistant details.thinking'), want.reasoning === '');
  assert.match(await page.textContent('.msg.assistant .meta') ?? '', new RegExp(`${want.completionTokens} tokens`));

  // A second turn carries the conversation; "New chat" clears it.
  await page.fill('#input', 'And then?');
  await page.click('#send');
  await page.waitForSelector('.msg.assistant:nth-of-type(4)[data-done="true"]', { timeout: 20000 });
  const second = expectedChat([
    { role: 'user', content: 'Hello there' }, { role: 'assistant', content: want.content },
    { role: 'user', content: 'And then? /no_think' },
  ], 48);
  assert.equal(await page.textContent('.msg.assistant:nth-of-type(4) .content'), second.content);
  await page.click('#new-chat');
  assert.equal(await page.locator('.msg').count(), 0);
  await page.close();
});

test('the stop button aborts the answer and frees the server slot', { skip }, async () => {
  const page = await open();
  await page.click('#settings-toggle');
  await page.fill('#temperature', '0');
  await page.fill('#max-tokens', '900');
  await page.selectOption('#thinking-mode', 'slow');
  await page.fill('#input', 'Write a very long essay.');
  await page.click('#send');
  await waitFor(async () => (await health(t.url)).slots.busy === 1, 10000, 'the answer to start');
  assert.equal(await page.isEnabled('#stop'), true);
  await page.click('#stop');
  await page.waitForSelector('.msg.assistant[data-done="true"]');
  assert.match(await page.textContent('.msg.assistant .meta') ?? '', /stopped/);
  await waitFor(async () => (await health(t.url)).slots.busy === 0, 2000, 'the slot to free');
  assert.equal(await page.isEnabled('#send'), true);
  await page.close();
});
