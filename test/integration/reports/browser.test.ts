/**
 * The report page in a real browser: Debian's Chromium through playwright-core opens the page
 * with every request intercepted, the verdict, the objectives and the timeline are visible, no
 * request was made; the PDF printed from it says the same verdict (pdftotext).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../platform/home.ts';
import { launchChromium, printPdf } from '../../../reports/pdf.ts';
import { type PublishedReport, publishReport } from '../../../reports/store.ts';
import { drillEvidence } from '../../fixtures/reports/evidence.ts';
import { tempDir } from '../../unit/reports/helpers.ts';

const artifacts = path.join(REPO_ROOT, 'test-artifacts', 'reports');
let home = '';
let report: PublishedReport;

beforeAll(async () => {
  home = tempDir('report-browser');
  mkdirSync(artifacts, { recursive: true });
  const evidence = drillEvidence(3, {
    verdict: 'fail',
    verdictReasons: ['RTO 16 min 40 s exceeds the objective 15 min 00 s'],
  });
  report = await publishReport(evidence, {
    home,
    keyDir: path.join(home, '..', `${path.basename(home)}-key`),
  });
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(`${home}-key`, { recursive: true, force: true });
});

describe('the report page in Chromium', () => {
  it('shows verdict, objectives and timeline and makes no request', async () => {
    const { context, profile } = await launchChromium();
    const requests: string[] = [];
    try {
      const page0 = pathToFileURL(report.htmlPath).href;
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url === page0) return route.continue();
        requests.push(url);
        return route.abort();
      });
      context.on('request', (r) => {
        if (r.url() !== page0) requests.push(r.url());
      });
      const page = await context.newPage();
      await page.goto(page0, { waitUntil: 'load' });
      // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator; innerText is the rendered, visible text
      await expect(page.locator('#verdict .verdict-word').innerText()).resolves.toBe('FAIL');
      expect(await page.locator('#verdict').isVisible()).toBe(true);
      expect(await page.locator('#objectives table').isVisible()).toBe(true);
      // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator; innerText is the rendered, visible text
      expect(await page.locator('#objectives').innerText()).toContain('RTO');
      expect(await page.locator('#timeline svg.gantt').isVisible()).toBe(true);
      expect(await page.locator('#timeline svg.gantt rect.bar').count()).toBeGreaterThanOrEqual(11);
      await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });
      expect(requests).toEqual([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);

  it('prints a PDF whose text has the same verdict', async () => {
    const pdf = path.join(artifacts, 'report.pdf');
    const { requests } = await printPdf(report.htmlPath, pdf);
    expect(requests).toBe(0);
    const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
    expect(text).toMatch(/Verdict:\s*FAIL/);
    expect(text).toContain('RTO 16 min 40 s exceeds the objective');
  }, 120_000);
});
