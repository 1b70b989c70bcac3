// dash.test.mjs - sensordash's page in Debian's Chromium (playwright-core),
// against the real logd, sensorgen, logalerts and sensordash that
// tests/web/dash.sh starts.  Run by dash.sh with node --test.
//
//   DASH_URL        the dashboard, http://127.0.0.1:PORT/
//   LOGD_BROKER     logd's native address (for logput)
//   LOGD_BUILDDIR   the build tree (tools/logput)
//   DASH_STATIONS   the sensor ids sensorgen sends, comma separated
//   DASH_ARTIFACTS  where the screenshot goes
//   CHROMIUM        the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const url = process.env.DASH_URL;
const stations = (process.env.DASH_STATIONS || '').split(',').filter(Boolean);
const artifacts = process.env.DASH_ARTIFACTS || '.';
let browser, page;
const problems = [];

before(async () => {
  assert.ok(url, 'DASH_URL is set');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => {
    // the event stream is cut when the browser closes; anything else counts
    if (!r.url().endsWith('/events')) problems.push('request failed: ' + r.url());
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('data:'))
      problems.push('external request: ' + r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
});

after(async () => {
  if (page)
    await page.screenshot({ path: `${artifacts}/dash.png`, fullPage: true });
  if (browser) await browser.close();
});

test('every station is listed and on the map', async () => {
  assert.ok(stations.length > 0, 'DASH_STATIONS lists the stations');
  for (const id of stations) {
    await page.locator(`tr[data-station="${id}"]`).waitFor({ timeout: 10000 });
    await page.locator(`circle[data-station="${id}"]`).waitFor({ state: 'attached', timeout: 10000 });
  }
  const rows = await page.locator('tr[data-station]').count();
  assert.equal(rows, stations.length);
  // a row shows the latest temperature as a number
  const temp = await page.locator(`tr[data-station="${stations[0]}"] td`).nth(2).textContent();
  assert.match(temp, /^-?\d+\.\d$/);
});

test('a chart has data points', async () => {
  const n = await page.waitForFunction(() => {
    let most = 0;
    for (const c of Object.values(window.Chart.instances))
      for (const ds of c.data.datasets) most = Math.max(most, ds.data.length);
    return most > 0 && most;
  }, null, { timeout: 10000 });
  assert.ok((await n.jsonValue()) > 0);
  // and Chart.js drew them: the canvas is not blank
  const drawn = await page.evaluate(() => {
    const c = document.querySelector('canvas[data-metric="temperature"]');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) return true;
    return false;
  });
  assert.ok(drawn, 'the temperature chart has pixels');
});

function logput(id, fields) {
  const reading = JSON.stringify(Object.assign({
    sensor_id: id, city: 'Siwa', lat: 29.2, lon: 25.52,
    timestamp: new Date().toISOString(), temperature: 20.0, humidity: 40.0,
    wind_speed: 10.0, pressure: 1012.0,
  }, fields));
  execFileSync(`${process.env.LOGD_BUILDDIR}/tools/logput`,
    ['-q', '-J', '-k', id, '-b', process.env.LOGD_BROKER, 'sensor_data'],
    { input: reading + '\n' });
}

test('a new reading shows within two seconds, without a reload', async () => {
  // a station of its own: sensorgen's next reading of one of its
  // stations would replace the value again within about a second
  const id = 'ws_webtest_new';
  const t0 = Date.now();
  logput(id, { temperature: 33.3 });
  await page.waitForFunction(([sel]) => {
    const td = document.querySelector(sel);
    return td && td.textContent === '33.3';
  }, [`tr[data-station="${id}"] td:nth-child(3)`], { timeout: 5000 });
  const took = Date.now() - t0;
  assert.ok(took < 2000, `reading shown after ${took} ms`);
});

test('an alert shows within seconds of the reading that causes it', async () => {
  const id = 'ws_webtest_001';
  const t0 = Date.now();
  logput(id, { temperature: 47.5 });
  const item = page.locator('#alerts li.alert-item', { hasText: id }).first();
  await item.waitFor({ timeout: 5000 });
  const took = Date.now() - t0;
  const text = await item.textContent();
  assert.match(text, /HIGH_TEMP/);
  assert.ok(took < 5000, `alert shown after ${took} ms`);
  // the new station is on the map in the alert colour and counted
  await page.locator(`tr[data-station="${id}"]`).waitFor({ timeout: 5000 });
  await page.selectOption('#colour-by', 'alert');
  const fill = await page.locator(`circle[data-station="${id}"]`).getAttribute('fill');
  assert.equal(fill, '#c0392b');
  const byType = await page.locator('#by-type tbody').textContent();
  assert.match(byType, /HIGH_TEMP/);
});

test('the health bar shows logd up and readings flowing', async () => {
  await page.waitForFunction(() =>
    document.getElementById('h-dot').className.includes('up') &&
    Number(document.getElementById('h-rate').textContent) > 0, null, { timeout: 15000 });
  assert.equal(await page.locator('#h-live').textContent(), 'yes');
  const lag = await page.locator('#h-lag').textContent();
  assert.match(lag, /^\d+$/);
});

test('no console errors, no external requests', () => {
  assert.deepEqual(problems, []);
});
