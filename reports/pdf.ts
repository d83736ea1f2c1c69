/**
 * Prints a report page to PDF with Debian's Chromium through playwright-core (nothing is
 * downloaded), with every network request refused and a fresh profile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ReportError } from './errors.ts';

export const CHROMIUM_PATH = process.env.LIFEBOAT_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Opens a persistent-context browser on a fresh profile; the caller closes it and removes the dir. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(path.join(tmpdir(), 'lifeboat-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      ignoreDefaultArgs: ['--enable-automation'],
      offline: true,
    });
    return { context, profile };
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw new ReportError(
      'PDF_FAILED',
      `cannot start ${CHROMIUM_PATH}: ${(err as Error).message.split('\n')[0]}`,
      {},
      'apt-get install chromium (scripts/setup.sh does)',
    );
  }
}

export async function printPdf(htmlPath: string, pdfPath: string): Promise<{ requests: number }> {
  const { context, profile } = await launchChromium();
  let requests = 0;
  try {
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') && url === pathToFileURL(htmlPath).href) return route.continue();
      requests++;
      return route.abort();
    });
    const page = await context.newPage();
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
    await page.pdf({
      path: pdfPath,
      format: 'A4',
      printBackground: true,
      margin: { top: '12mm', bottom: '12mm', left: '10mm', right: '10mm' },
    });
    return { requests };
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
