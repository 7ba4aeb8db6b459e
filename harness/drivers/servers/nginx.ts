import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CleanupStack } from '../../lib/cleanup.js';
import { sleep } from '../../lib/cleanup.js';
import { infraError, inputError } from '../../model/errors.js';
import type { Target } from '../targets/target.js';
import { canConnect, httpAnswers } from '../net/ports.js';

/** Path of the page nginx serves for the browser client (see nginx.conf.template). */
export const BROWSER_PAGE = '/__headgate/index.html';

/** The page's HTML: empty on purpose; the test plan is handed in by the harness. */
export const BROWSER_PAGE_HTML = '<!doctype html><meta charset="utf-8"><title>headgate browser client</title><p>headgate browser client</p>\n';

const TEMPLATE = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'nginx.conf.template'), 'utf8');

/** A running HTTP server under test. */
export interface HttpServer {
  baseUrl: string;
  /** Address and port, for clients that are not HTTP (e.g. a TLS handshake probe). */
  host?: string;
  port?: number;
  /** Server process ids (master and workers) whose CPU is charged to the server; empty for external servers. */
  pids(): Promise<number[]>;
  /** Files kept in the run directory (name -> absolute path). */
  artifacts: Record<string, string>;
  /** True if the server process is still up (always true for external servers). */
  alive(): boolean;
  /** Negotiated TLS protocol and cipher, once probed (HTTPS servers). */
  tlsInfo?: string;
}

/** What to render. */
export interface NginxSpec {
  suite: string;
  variant: string;
  prefix: string;
  root: string;
  address: string;
  /** Address nginx binds (default: address); differs when the client reaches the target through a forward (qemu). */
  listenAddress?: string;
  port: number;
  workers: number;
  variantDirectives: string[];
  userDirectives: string[];
  runAsRoot: boolean;
  /** CPUs the workers are pinned to, round robin (worker_cpu_affinity); empty or absent: not pinned. */
  cpus?: number[];
  /** Serve HTTPS with this certificate and key (PEM files on the target). */
  tls?: { cert: string; key: string };
  /** Command prefix that places nginx elsewhere, e.g. ["ip", "netns", "exec", "hg-srv"]. */
  wrap?: string[];
}

const directiveName = (d: string) => d.trim().split(/\s+/)[0];
const terminate = (d: string) => (d.trim().endsWith(';') || d.trim().endsWith('}') ? d.trim() : `${d.trim()};`);

/** worker_cpu_affinity bitmasks (rightmost bit = CPU 0), one per worker, CPUs used round robin. */
export function affinityMasks(workers: number, cpus: number[]): string {
  const width = Math.max(...cpus) + 1;
  return Array.from({ length: workers }, (_, i) => {
    const cpu = cpus[i % cpus.length];
    return Array.from({ length: width }, (_, b) => (width - 1 - b === cpu ? '1' : '0')).join('');
  }).join(' ');
}

/** Renders nginx.conf: a user directive replaces a variant directive with the same name. */
export function renderNginxConf(s: NginxSpec): string {
  const userNames = new Set(s.userDirectives.map(directiveName));
  const directives = [...s.variantDirectives.filter((d) => !userNames.has(directiveName(d))), ...s.userDirectives]
    .map((d) => `    ${terminate(d)}`)
    .join('\n');
  const vars: Record<string, string> = {
    suite: s.suite,
    variant: s.variant,
    prefix: s.prefix,
    root: s.root,
    address: s.listenAddress ?? s.address,
    port: String(s.port),
    workers: String(s.workers),
    directives,
    // Workers as root only so they can read objects under any run directory; this is a lab server.
    userDirective: s.runAsRoot ? 'user root;' : '',
    affinityDirective: s.cpus?.length ? `worker_cpu_affinity ${affinityMasks(s.workers, s.cpus)};` : '',
    listenOptions: s.tls ? ' ssl' : '',
    tlsDirectives: s.tls ? `        ssl_certificate ${s.tls.cert};\n        ssl_certificate_key ${s.tls.key};` : '',
  };
  return TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? '');
}

const tail = (text: string | null, n = 3) =>
  (text ?? '').trim().split('\n').slice(-n).join(' | ') || '(empty error log)';

/**
 * Starts nginx for one variant in a private prefix on a free loopback port, waits until it
 * accepts connections, and registers its stop on the cleanup stack.
 */
export async function startNginx(
  target: Target,
  spec: Omit<NginxSpec, 'port' | 'runAsRoot'>,
  stack: CleanupStack,
): Promise<HttpServer> {
  const nginx = await target.which('nginx');
  if (!nginx) throw infraError(`target ${target.name}: nginx not found`, 'install it: apt-get install nginx-light (Debian) or pkg install nginx (FreeBSD)');
  const conf = path.join(spec.prefix, 'nginx.conf');
  const errorLog = path.join(spec.prefix, 'logs', 'error.log');
  const runAsRoot = target.runsAsRoot;
  for (let attempt = 1; ; attempt++) {
    // In a namespace of its own the server's address is not local here; any port is free there.
    const port = await target.pickPort(spec.wrap?.length ? '127.0.0.1' : spec.address);
    await target.writeFile(conf, renderNginxConf({ ...spec, port, runAsRoot }));
    for (const d of ['logs', 'tmp', 'www']) await target.exec(['mkdir', '-p', path.join(spec.prefix, d)]);
    await target.writeFile(path.join(spec.prefix, 'www', 'index.html'), BROWSER_PAGE_HTML);
    const wrap = spec.wrap ?? [];
    const test = await target.exec([...wrap, nginx, '-t', '-q', '-p', spec.prefix, '-c', conf], { allowFail: true });
    if (test.code !== 0) {
      const msg = (test.stderr || test.stdout).trim().split('\n')[0];
      throw /unknown directive|invalid|directive is duplicate|unexpected/.test(msg)
        ? inputError(`nginx rejected the configuration for ${spec.suite}/${spec.variant} (${conf}): ${msg}`)
        : infraError(`nginx -t failed for ${spec.suite}/${spec.variant} (${conf}): ${msg}`);
    }
    const proc = await target.spawn([...wrap, nginx, '-p', spec.prefix, '-c', conf], { logFile: path.join(spec.prefix, 'logs', 'stderr.log') });
    stack.push(`stop nginx ${spec.suite}/${spec.variant} (pid ${proc.pid})`, async () => {
      proc.kill('SIGQUIT');
      const done = await Promise.race([proc.exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) {
        proc.kill('SIGKILL');
        await proc.exited;
      }
    });
    const deadline = Date.now() + (target.notes?.length ? 60_000 : 10_000);
    let up = false;
    while (Date.now() < deadline && proc.running()) {
      if ((await canConnect(spec.address, port)) && (await httpAnswers(`${spec.tls ? 'https' : 'http'}://${spec.address}:${port}/__headgate/`))) {
        up = true;
        break;
      }
      await sleep(50);
    }
    if (up) {
      const os = await target.os();
      return {
        baseUrl: `${spec.tls ? 'https' : 'http'}://${spec.address}:${port}`,
        host: spec.address,
        port,
        pids: async () => [proc.pid, ...(await os.childPids(proc.pid))],
        artifacts: { 'nginx.conf': conf, 'error.log': errorLog },
        alive: () => proc.running(),
      };
    }
    const log = await target.readFileIfExists(errorLog);
    // Another process may have taken the port between our probe and nginx's bind: retry.
    if (/Address already in use/.test(log ?? '') && attempt < 3) continue;
    proc.kill('SIGKILL');
    throw infraError(`nginx for ${spec.suite}/${spec.variant} did not start on ${spec.address}:${port}: ${tail(log)}`);
  }
}

/** An HTTP(S) server the user already runs (lab-appliance mode): nothing to start or stop. */
export function externalServer(url: string): HttpServer {
  return { baseUrl: url.replace(/\/+$/, ''), pids: async () => [], artifacts: {}, alive: () => true };
}
