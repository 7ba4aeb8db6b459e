import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { infraError, interruptedError } from '../model/errors.js';
import type { VerificationResult } from '../model/types.js';
import type { ExpectedObject } from './http.js';
import { BROWSER_PAGE } from '../drivers/servers/nginx.js';
import { median, quantile } from '../stats/summary.js';
import { tailSamples, type ProbeDeclaration } from './probe.js';

/** Debian's Chromium binary (the /usr/bin/chromium wrapper adds flags and prints shell noise). */
export const CHROMIUM_PATH = '/usr/lib/chromium/chromium';


interface PageResult {
  fetches: number;
  bytes: number;
  verified: number;
  failures: { path: string; reason: string }[];
  ttfb: number[];
  transfer: number[];
  tls: number;
  protocol: string;
}

/**
 * Runs inside the page, so it is plain JavaScript in a string: a TypeScript function would be
 * rewritten by the loader (helpers such as __name) that do not exist in the browser.
 */
const PAGE_SCRIPT = `async ({ plan, durationMs, maxFetches }) => {
  performance.setResourceTimingBufferSize(100000);
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
  const failures = [];
  let verified = 0, bytes = 0, n = 0;
  const start = performance.now();
  const urls = [];
  while (performance.now() - start < durationMs && n < maxFetches) {
    const item = plan[n % plan.length];
    n++;
    // A query string keeps each fetch distinct in Resource Timing and out of any cache.
    const url = item.path + '?hg=' + n;
    urls.push(new URL(url, location.href).href);
    try {
      const res = await fetch(url, { cache: 'no-store' });
      const body = await res.arrayBuffer();
      bytes += body.byteLength;
      if (res.status !== 200) failures.push({ path: item.path, reason: 'HTTP ' + res.status });
      else if (body.byteLength !== item.size) failures.push({ path: item.path, reason: body.byteLength + ' bytes, expected ' + item.size });
      else if (hex(await crypto.subtle.digest('SHA-256', body)) !== item.sha256) failures.push({ path: item.path, reason: 'SHA-256 mismatch' });
      else verified++;
    } catch (e) {
      failures.push({ path: item.path, reason: String(e) });
    }
  }
  const wanted = new Set(urls);
  const entries = performance.getEntriesByType('resource').filter((e) => wanted.has(e.name));
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    fetches: n, bytes, verified, failures,
    ttfb: entries.map((e) => e.responseStart - e.requestStart),
    transfer: entries.map((e) => e.responseEnd - e.responseStart),
    tls: nav && nav.secureConnectionStart > 0 ? nav.connectEnd - nav.secureConnectionStart : 0,
    protocol: nav ? nav.nextHopProtocol : '',
  };
}`;

/** What one browser repetition measured (times in ms, from Resource and Navigation Timing). */
export interface BrowserResult {
  durationSec: number;
  fetches: number;
  bodyBytes: number;
  /** requestStart -> responseStart per fetch. */
  ttfbMs: number[];
  /** responseStart -> responseEnd per fetch. */
  transferMs: number[];
  /** TLS handshake of the page's connection (connectEnd - secureConnectionStart); 0 for plain HTTP. */
  tlsMs: number;
  protocol: string;
  verification: VerificationResult;
}

/** The browser probe: a real Chromium fetching the objects, every body's SHA-256 checked in the page. */
export const browserProbe: ProbeDeclaration = {
  id: 'browser',
  title: 'real browser (Chromium) fetching the objects, Resource Timing',
  metrics: [
    { id: 'browser_ttfb_ms', unit: 'ms', direction: 'lower', quantile: 0.5 },
    { id: 'browser_ttfb_p90_ms', unit: 'ms', direction: 'lower', quantile: 0.9 },
    { id: 'browser_transfer_ms', unit: 'ms', direction: 'lower', quantile: 0.5 },
    { id: 'browser_tls_ms', unit: 'ms', direction: 'lower' },
    { id: 'browser_gbps', unit: 'Gb/s', direction: 'higher' },
    { id: 'requests_per_sec', unit: 'req/s', direction: 'higher' },
    { id: 'server_cpu_pct', unit: '% of one core', direction: 'lower' },
    { id: 'verification_failures', unit: 'count', direction: 'lower' },
  ],
  // Only variants whose client is the browser; the others are measured by the load generator.
  measures: (v) => v.client === 'browser',
};

/** The browser probe's metrics of one repetition; serverCores is null when the server's processes are unknown. */
export function browserMetrics(r: BrowserResult, serverCores: number | null): Record<string, number> {
  return {
    browser_ttfb_ms: median(r.ttfbMs),
    browser_ttfb_p90_ms: quantile(r.ttfbMs, 0.9),
    browser_transfer_ms: median(r.transferMs),
    browser_tls_ms: r.tlsMs,
    // A browser is not a load generator: its rate is reported under its own name, never gated as throughput.
    browser_gbps: (r.bodyBytes * 8) / r.durationSec / 1e9,
    requests_per_sec: r.fetches / r.durationSec,
    server_cpu_pct: (serverCores ?? 0) * 100,
    verification_failures: r.verification.failed,
  };
}

/** How many fetches lay beyond each of the browser's percentiles (see tailSamples). */
export function browserTailSamples(r: Pick<BrowserResult, 'ttfbMs' | 'transferMs'>): Record<string, number> {
  return tailSamples(browserProbe.metrics, { browser_ttfb_ms: r.ttfbMs.length, browser_ttfb_p90_ms: r.ttfbMs.length, browser_transfer_ms: r.transferMs.length });
}

/** Launches Debian's Chromium headless; the caller closes it (or Node never exits). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw infraError(`browser client: ${CHROMIUM_PATH} not found`, 'apt-get install chromium');
  return chromium.launch({ executablePath: CHROMIUM_PATH });
}

/**
 * Loads the page from the server under test in a fresh browser context (new connection, new TLS
 * handshake), then fetches the objects in order until the duration or the fetch budget is used,
 * checking each body's SHA-256 inside the page: proof that a real browser read what the kernel sent.
 */
export async function runBrowserLoad(
  browser: Browser,
  o: { baseUrl: string; objects: ExpectedObject[]; durationSec: number; maxFetches?: number; signal?: AbortSignal },
): Promise<BrowserResult> {
  if (o.signal?.aborted) throw interruptedError();
  // A page view: a handful of box art images, then the video segments in order.
  const small = o.objects.filter((x) => x.body.length < 1 << 20).slice(0, 8);
  const large = o.objects.filter((x) => x.body.length >= 1 << 20);
  const plan = [...small, ...large].map((x) => ({ path: x.path, sha256: createHash('sha256').update(x.body).digest('hex'), size: x.body.length }));
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const onAbort = () => void context.close().catch(() => {});
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const page = await context.newPage();
    const nav = await page.goto(o.baseUrl + BROWSER_PAGE, { timeout: 15_000 });
    if (!nav?.ok()) throw infraError(`browser client: ${o.baseUrl}${BROWSER_PAGE} answered ${nav?.status() ?? 'nothing'}`);
    const t0 = Date.now();
    const args = { plan, durationMs: o.durationSec * 1000, maxFetches: o.maxFetches ?? 10_000 };
    const r = (await page.evaluate(`(${PAGE_SCRIPT})(${JSON.stringify(args)})`)) as PageResult;
    return {
      durationSec: (Date.now() - t0) / 1000,
      fetches: r.fetches,
      bodyBytes: r.bytes,
      ttfbMs: r.ttfb,
      transferMs: r.transfer,
      tlsMs: r.tls,
      protocol: r.protocol,
      verification: { verified: r.verified, failed: r.failures.length, failures: r.failures.slice(0, 5) },
    };
  } catch (e) {
    if (o.signal?.aborted) throw interruptedError();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await context.close().catch(() => {});
  }
}
