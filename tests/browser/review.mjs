// review.mjs: drives Debian's chromium (headless, through playwright-core) over a page written by
// `geolabel review`: counts, a class filter, two corrections, the export, a screenshot, scrolling.
// usage: node review.mjs PAGE.html OUTDIR PLAN.json   (PLAN: what to do and expect, from Python)
// Prints one JSON object of observations on stdout; exits non-zero on any failed expectation.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [page_path, out_dir, plan_path] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(plan_path, 'utf8'));
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'geolabel-chromium-'));
const seen = { requests: [] };
function expect(cond, what) {
  if (!cond) throw new Error('expectation failed: ' + what + ' ' + JSON.stringify(seen));
}

const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1400, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // The page must not fetch anything: every request but the page itself is recorded.
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:') &&
                                   !r.url().startsWith('blob:')) seen.requests.push(r.url()); });
  const t0 = Date.now();
  await page.goto('file://' + path.resolve(page_path));
  await page.waitForFunction(() => document.getElementById('count').dataset.total !== undefined);
  seen.load_ms = Date.now() - t0;
  seen.total = +(await page.getAttribute('#count', 'data-total'));
  seen.cells = await page.locator('.cell').count();
  expect(seen.total === plan.tiles, 'tile count ' + seen.total + ' != ' + plan.tiles);
  expect(seen.cells > 0 && seen.cells <= Math.min(plan.tiles, 400), 'rendered cells ' + seen.cells);

  if (plan.filter) {
    await page.selectOption('#cls', { label: plan.filter.class });
    seen.filtered = +(await page.getAttribute('#count', 'data-shown'));
    expect(seen.filtered === plan.filter.expect, 'filtered ' + seen.filtered);
    const labels = await page.locator('.cell .lab').allTextContents();
    expect(labels.length > 0 && labels.every((l) => l === plan.filter.class), 'filtered labels');
    await page.selectOption('#cls', '');
  }

  if (plan.correct) {
    // Least confident first: the first two cells are the two lowest scores.
    await page.selectOption('#sort', 'score');
    const first = page.locator('.cell').nth(0), second = page.locator('.cell').nth(1);
    seen.corrected = [+(await first.getAttribute('data-i')), +(await second.getAttribute('data-i'))];
    await first.click();
    // The detail panel lists the selected tile's top-3 probabilities.
    seen.detail_top3 = await page.locator('#detail .probs > div').allTextContents();
    await page.keyboard.press(String(plan.correct.key)); // by keyboard
    await second.click();
    await page.locator('#legend button').nth(plan.correct.button).click(); // by click
    seen.ncorr = +(await page.textContent('#ncorr'));
    expect(seen.ncorr === 2, 'two corrections, not ' + seen.ncorr);
    const dl = page.waitForEvent('download');
    await page.click('#export');
    const d = await dl;
    seen.download = d.suggestedFilename();
    await d.saveAs(path.join(out_dir, 'exported.csv'));
  }

  await page.screenshot({ path: path.join(out_dir, 'review.png') });

  if (plan.scroll) {
    // Scroll through the whole grid a page at a time, timing frames; the last tile must render.
    seen.frames = await page.evaluate(async () => {
      const g = document.getElementById('grid'), gaps = [];
      let last = performance.now();
      while (g.scrollTop + g.clientHeight < g.scrollHeight - 2) {
        g.scrollTop += g.clientHeight * 0.8;
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        gaps.push(now - last);
        last = now;
      }
      gaps.sort((a, b) => a - b);
      return { n: gaps.length, median_ms: gaps[gaps.length >> 1],
               p95_ms: gaps[Math.floor(gaps.length * 0.95)],
               cells: document.querySelectorAll('.cell').length };
    });
    await page.screenshot({ path: path.join(out_dir, 'review_scrolled.png') });
    expect(seen.frames.cells <= 400, 'cells after scrolling ' + seen.frames.cells);
  }
  expect(errors.length === 0, 'page errors: ' + errors.join('; '));
  expect(seen.requests.length === 0, 'network requests');
  console.log(JSON.stringify(seen));
} finally {
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
