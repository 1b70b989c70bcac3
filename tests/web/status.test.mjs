// status.test.mjs - logd's status page (http_listen, /) in Debian's
// Chromium (playwright-core), against the real logd tests/web/status.sh
// starts with topics "readings" (3 partitions, 300 records in partition
// 0) and "alerts" (7 records, retention 1 h), and group "dash" lagging
// 50 on readings/0.  Run by status.sh with node --test.
//
//   LOGD_STATUS_URL   the page, http://127.0.0.1:PORT/
//   LOGD_BROKER       logd's native address (for logput)
//   LOGD_BUILDDIR     the build tree (tools/logput)
//   STATUS_ARTIFACTS  where the screenshot goes
//   CHROMIUM          the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const url = process.env.LOGD_STATUS_URL;
const artifacts = process.env.STATUS_ARTIFACTS || '.';
let browser, page;
const problems = [];

before(async () => {
  assert.ok(url, 'LOGD_STATUS_URL is set');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1300, height: 1200 } });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) problems.push('external request: ' + r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
});

after(async () => {
  if (page)
    await page.screenshot({ path: `${artifacts}/status.png`, fullPage: true });
  if (browser) await browser.close();
});

// The cells of the table rows whose first cell is name.
async function rows(table, name) {
  return page.$$eval(`#${table} tbody tr`, (trs, n) =>
    trs.map((tr) => [...tr.cells].map((c) => c.textContent))
      .filter((c) => c[0] === n), name);
}

test('the topics are listed with partitions, offsets and retention', async () => {
  await page.waitForFunction(() =>
    document.querySelectorAll('#topics tbody tr').length >= 4, null,
  { timeout: 10000 });
  const r = await rows('topics', 'readings');
  assert.equal(r.length, 3, 'readings has 3 partitions: ' + JSON.stringify(r));
  const p0 = r.find((c) => c[1] === '0');
  assert.equal(p0[3], '300', 'readings/0 ends at 300');
  const a = await rows('topics', 'alerts');
  assert.equal(a.length, 1);
  assert.equal(a[0][3], '7');
  assert.match(a[0][7], /time 1 h/);
});

test('the group shows its lag', async () => {
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#groups tbody tr')]
      .some((tr) => tr.cells[0].textContent === 'dash'), null,
  { timeout: 10000 });
  const g = await rows('groups', 'dash');
  assert.equal(g.length, 1, JSON.stringify(g));
  assert.equal(g[0][3], 'readings');
  assert.equal(g[0][5], '250');
  assert.equal(g[0][6], '300');
  assert.equal(g[0][7], '50');
});

test('it updates itself: new records show without a reload', async () => {
  execFileSync(`${process.env.LOGD_BUILDDIR}/tools/logput`,
    ['-b', process.env.LOGD_BROKER, '-p', '0', 'readings'],
    { input: 'a\nb\nc\nd\ne\n' });
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#groups tbody tr')]
      .some((tr) => tr.cells[0].textContent === 'dash' &&
        tr.cells[7].textContent === '55'), null, { timeout: 8000 });
});

test('the throughput charts are drawn with data points', async () => {
  await page.waitForFunction(() => typeof Chart !== 'undefined' &&
    Chart.getChart('records') &&
    Chart.getChart('records').data.datasets[0].data.length > 0, null,
  { timeout: 10000 });
  const n = await page.evaluate(() => Chart.getChart('bytes').data.labels.length);
  assert.ok(n > 0, 'the bytes chart has points');
});

test('no console errors, failed or external requests', () => {
  assert.deepEqual(problems, []);
});
