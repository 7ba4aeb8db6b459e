import { formatCpuList } from '../lib/cpulist.js';
import path from 'node:path';
import type { ExpectedObject } from '../probes/http.js';
import { httpMetrics, httpTailSamples, runHttpLoad, type HttpLoadResult } from '../probes/http.js';
import { mergeLoadResults } from '../probes/merge.js';
import type { LoadWorkerSpec } from '../probes/worker.js';
import { openRateFor, runOpenLoad } from '../probes/open.js';
import { diff, snapshot, type SnapshotDelta } from '../probes/snapshot.js';
import { browserMetrics, browserTailSamples, launchBrowser, runBrowserLoad } from '../probes/browser.js';
import { blockIoMetrics, blockIoTailSamples, runFio, type FioSide } from '../probes/fio.js';
import { runIperf, tcpMetrics } from '../probes/iperf.js';
import { probeMode } from '../probes/registry.js';
import { CARRIED_SHARE, offerNotCarried } from '../verdict/offered.js';
import { createBottleneck, createFreebsdBottleneck, type Bottleneck, type Impairment } from '../drivers/net/bottleneck.js';
import { checkNoKeyArtifacts, makeCertificate, probeTls, tlsDirectives, type TlsPair } from '../drivers/servers/tls.js';
import type { Browser } from 'playwright-core';
import type { OsAdapter, TcpLogDrain } from '../drivers/os/adapter.js';
import { externalServer, startNginx, type HttpServer } from '../drivers/servers/nginx.js';
import { freePort } from '../drivers/net/ports.js';
import type { Target } from '../drivers/targets/target.js';
import { CleanupStack, sleep } from '../lib/cleanup.js';
import { knobMatches } from '../drivers/journal.js';
import { infraError, inputError } from '../model/errors.js';
import type { Progress } from '../lib/progress.js';
import type { KnobHost, LoadPeer, RepetitionMeasurement, SuiteContext } from './suite.js';
import type { CounterGroup, Fingerprint, ObjectClass, RunOptions, VariantDef } from '../model/types.js';

/** Everything the runner shares with the suite contexts it creates. */

/**
 * How far ahead the first load-client start barrier is set: ssh, node and the CLI start, then each
 * host builds the object set from its seed. Later barriers follow the slowest host's
 * dispatch-to-ready time (1 s plus 1.5 times it, at least CLIENT_MIN_LEAD_MS).
 */
const CLIENT_START_LEAD_MS = 5000;
/** The shortest barrier lead once the clients' start-up time is known. */
const CLIENT_MIN_LEAD_MS = 2000;
/** How long before the client barrier the first CPU snapshot is taken (reading the target takes tens of ms). */
const BARRIER_SNAPSHOT_AHEAD_MS = 200;
/** A barrier further away than this is not waited for before the first snapshot (the workers bound theirs alike). */
const MAX_BARRIER_WAIT_MS = 60_000;

/** Client windows that started further apart than this share of the window are noted as skewed. */
const CLIENT_SKEW_WARN = 0.05;
export interface RunEnvironment {
  target: Target;
  os: OsAdapter;
  fingerprint: Fingerprint;
  options: RunOptions;
  signal: AbortSignal;
  progress: Progress;
  /** The run directory on this machine (run.json, reports, downloaded artifacts). */
  runDir: string;
  /** The run directory on the target (the same as runDir when the target shares this filesystem). */
  targetRunDir: string;
  /** The object set on the target. */
  objectsDir: string;
  /** This machine, for the parts of a lab that live here (namespaces, the iperf3 receiver). */
  host: Target;
  /** Load-client hosts; empty: the load runs in this process. */
  clients?: LoadClient[];
  objects: (ExpectedObject & { kind: string })[];
  /** The cold-cache set (paths under objectsDir/cold-NMiB/); empty when no cold variant is selected. */
  coldObjects: (ExpectedObject & { kind: string })[];
}

/** A host that runs the harness's load client (`headgate load-worker`) against the target. */
export interface LoadClient {
  name: string;
  target: Target;
  /** The headgate checkout on that host. */
  headgateDir: string;
}

/**
 * Where the HTTP load toward a server at serverHost comes from, as the target routes back to it
 * (SuiteContext.loadPeers). With --client: each client host at its inventory address (a client
 * on the controller's own machine counts as the controller). Without: this process, which
 * - on the target's own machine connects to the server's own address;
 * - over ssh reaches the target at `address`: the ssh peer is the load's source only when ssh
 *   connects to that same host; otherwise the ssh session (a management network, a jump host)
 *   says nothing about the load's path, and the source is unknown.
 */
export function loadPeersOf(target: Pick<Target, 'address' | 'onController' | 'sshHost'>, clients: { name: string; target: Pick<Target, 'address' | 'onController'> }[], serverHost: string): LoadPeer[] {
  const controller = (who: string): LoadPeer => {
    if (target.onController) return { via: 'address', address: serverHost, why: `${who} runs on the target's own machine and connects to the server's address ${serverHost}` };
    if (target.sshHost !== undefined && target.sshHost === target.address) {
      return { via: 'ssh-peer', why: `${who} runs on the controller and reaches the target at ${target.address}, as its ssh session does: the ssh peer is the load's source` };
    }
    const ssh = target.sshHost === undefined ? 'the target is not reached over ssh' : `ssh reaches it as ${target.sshHost}`;
    return { via: 'unknown', why: `${who} runs on the controller and connects to ${target.address}, but ${ssh}: the ssh peer is not on the load's path, and the controller's address on that path is unknown` };
  };
  if (!clients.length) return [controller('the load (no --client)')];
  return clients.map((c) =>
    c.target.onController ? controller(`load client ${c.name}`) : { via: 'address', address: c.target.address, why: `load client ${c.name} (--client), at the address its inventory entry gives (address, else host)` },
  );
}

/** Verification result of a measurement with no payload to check (fio, iperf3). */
const NOTHING_VERIFIED = { verified: 0, failed: 0, failures: [] };

/**
 * The harness API given to one suite. Servers live on the suite's stack (stopped when the suite
 * ends); knobs live on a per-repetition stack the runner unwinds after each repetition.
 */
export class HarnessContext implements SuiteContext {
  readonly knobStack = new CleanupStack();
  /** The signal of the current step (the run's signal plus the step deadline); set by the runner. */
  stepSignal?: AbortSignal;
  /** --fixed-throughput: the Gb/s every HTTP load of this suite is offered (open model); set by the runner. */
  offeredGbps?: number;
  /** How far ahead the next load-client start barrier is set (ms). */
  private clientLeadMs = CLIENT_START_LEAD_MS;
  constructor(
    private readonly env: RunEnvironment,
    readonly suiteId: string,
    private readonly suiteStack: CleanupStack,
    private readonly artifacts: (variant: string, files: Record<string, string>) => void,
    private readonly counterGroups: CounterGroup[] = ['vm', 'tcp', 'sendfile'],
    /** The probes the suite declares (suite.json "probes"); measuring with another one is a suite bug. */
    private readonly probes?: readonly string[],
    /** The knobs the suite declares for this OS (variant knobs and setsKnobs; patterns with '*'); absent: not checked. */
    private readonly knobs?: readonly string[],
  ) {}

  /**
   * Refuses a knob the suite did not declare (exit 2): a restore journal writes back only
   * declared knobs, so an undeclared one would be left changed after a crash.
   */
  private declaredKnob(name: string): void {
    if (this.knobs && !this.knobs.some((p) => knobMatches(p, name))) {
      throw inputError(`suite ${this.suiteId} sets knob ${name}, which its suite.json does not declare (variants' "knobs" or "setsKnobs")`);
    }
  }

  /**
   * Refuses a probe the suite did not declare: its metrics were never checked against the
   * manifest, so they could silently miss or mislabel what the suite promises.
   */
  private useProbe(id: string): void {
    if (this.probes && !this.probes.includes(id)) {
      throw inputError(`suite ${this.suiteId} measures with the ${id} probe, but its suite.json "probes" (${this.probes.join(', ')}) does not list it`);
    }
  }

  /**
   * Runs fn between two snapshots of the target (CPU, server processes, this suite's counter
   * groups). With `startAtMs` (client hosts' start barrier) the first snapshot waits for it: the
   * seconds of ssh, node start-up and barrier before the load are idle, and counted in they would
   * dilute every CPU % by a different amount each repetition.
   */
  private async bracketed<T>(pids: number[], fn: () => Promise<T>, startAtMs?: number): Promise<{ result: T; delta: SnapshotDelta }> {
    const { os, fingerprint } = this.env;
    // A guest's CPU time is all the server's (its emulator runs on the split's server CPUs).
    const split = this.env.options.split;
    const serverCpus = split && !split.guest ? split.server : undefined;
    const take = () => snapshot(os, pids, this.counterGroups, serverCpus);
    let before;
    let result: T;
    if (startAtMs === undefined) {
      before = await take();
      result = await fn();
    } else {
      const running = fn();
      // Shortly before the barrier, so that reading the target does not eat into the window.
      const wait = Math.min(startAtMs - BARRIER_SNAPSHOT_AHEAD_MS - Date.now(), MAX_BARRIER_WAIT_MS);
      const early = await Promise.race([running.then(() => true, () => true), sleep(Math.max(0, wait)).then(() => false)]);
      before = await take();
      // A load that ended before the barrier (it failed) has nothing to measure: its error surfaces here.
      result = await running;
      if (early) throw infraError(`${this.suiteId}: the load clients returned before their start barrier`);
    }
    const after = await take();
    return { result, delta: diff(before, after, fingerprint.cpuCount) };
  }

  private browser?: Browser;
  private scratchDevice?: string;
  private selectObjects(kind?: ObjectClass, cache: 'hot' | 'cold' = 'hot') {
    const set = cache === 'cold' ? this.env.coldObjects : this.env.objects;
    return !kind || kind === 'all' ? set : set.filter((x) => x.kind === kind);
  }

  get options(): RunOptions {
    return this.env.options;
  }
  get fingerprint(): Fingerprint {
    return this.env.fingerprint;
  }
  get signal(): AbortSignal {
    return this.stepSignal ?? this.env.signal;
  }
  log(line: string): void {
    this.env.progress.log(line);
  }
  capability(name: string) {
    return this.env.os.capability(name);
  }
  loadPeers(serverHost: string): LoadPeer[] {
    return loadPeersOf(this.env.target, this.env.clients ?? [], serverHost);
  }
  private async knobOs(where: KnobHost) {
    return where === 'path-host' && this.env.target.lab ? this.env.host.os() : this.env.os;
  }
  async getKnob(name: string, where: KnobHost = 'target'): Promise<string> {
    return (await this.knobOs(where)).getKnob(name);
  }
  async setKnob(name: string, value: string, where: KnobHost = 'target'): Promise<void> {
    this.declaredKnob(name);
    return (await this.knobOs(where)).setKnob(name, value, this.knobStack);
  }

  private readonly certificates = new Map<string, Promise<TlsPair>>();
  /**
   * One certificate per server address for this suite: the certificate in the run directory, the
   * private key in a 0700 directory under the target's work/tmp directory (this machine's temp
   * directory for a local target), outside the reports tree, removed when the suite ends.
   */
  private certificate(address: string): Promise<TlsPair> {
    let pair = this.certificates.get(address);
    if (!pair) {
      const { target, targetRunDir } = this.env;
      const keyParent = path.posix.join(target.workDir ?? target.home, 'tmp');
      pair = makeCertificate(target, { certDir: path.posix.join(targetRunDir, 'tls'), keyParent, address }, this.suiteStack);
      pair.catch(() => this.certificates.delete(address));
      this.certificates.set(address, pair);
    }
    return pair;
  }

  async startHttpServer(variant: VariantDef, where?: { bottleneck?: Bottleneck }): Promise<HttpServer> {
    if (this.env.options.serverUrl) return externalServer(this.env.options.serverUrl);
    const address = where?.bottleneck?.serverAddress ?? this.env.target.address;
    const tls = variant.tls ? await this.certificate(address) : undefined;
    const server = await startNginx(
      this.env.target,
      {
        suite: this.suiteId,
        variant: variant.id,
        prefix: path.posix.join(this.env.targetRunDir, 'servers', `${this.suiteId}-${variant.id}`),
        root: this.env.objectsDir,
        address,
        listenAddress: where?.bottleneck ? undefined : this.env.target.listenAddress,
        tls,
        wrap: where?.bottleneck?.serverWrap,
        workers: this.env.options.serverWorkers,
        variantDirectives: [...(variant.tls ? tlsDirectives(variant.tls) : []), ...(variant.nginx ?? [])],
        userDirectives: this.env.options.serverDirectives,
        cpus: this.env.options.serverCpus,
      },
      this.suiteStack,
    );
    if (tls) checkNoKeyArtifacts(server.artifacts, tls);
    this.artifacts(variant.id, server.artifacts);
    if (variant.tls && server.host && server.port) {
      // Prove the variant's protocol and cipher are what the server actually negotiates.
      const got = await probeTls(server.host, server.port);
      const want = variant.tls;
      server.tlsInfo = `${got.protocol} ${got.cipher}`;
      if (got.protocol !== want.protocol || got.cipher !== want.ciphers) {
        throw infraError(`${this.suiteId}/${variant.id}: server negotiated ${got.protocol} ${got.cipher}, the variant asks for ${want.protocol} ${want.ciphers}`);
      }
    }
    return server;
  }

  async measureHttp(
    server: HttpServer,
    o: { durationSec: number; connections?: number; objects?: ObjectClass; label: string; cache?: 'hot' | 'cold' },
  ): Promise<RepetitionMeasurement> {
    const { os, progress } = this.env;
    this.useProbe('http');
    progress.step(o.label);
    const pids = await server.pids();
    const objects = this.selectObjects(o.objects, o.cache);
    if (objects.length === 0) throw infraError(`${this.suiteId} ${o.label}: no ${o.cache === 'cold' ? 'cold-cache ' : ''}objects to request`);
    const cold =
      o.cache === 'cold'
        ? await os.coldCache(
            objects.map((x) => path.posix.join(this.env.objectsDir, x.path)),
            path.posix.join(this.env.targetRunDir, 'servers', `${this.suiteId}-evictor.log`),
            o.durationSec + 60,
            this.suiteStack,
          )
        : null;
    const spec = {
      baseUrl: server.baseUrl,
      objects,
      connections: o.connections ?? this.env.options.connections,
      durationSec: o.durationSec,
      signal: this.signal,
      onTick: (t: { elapsedSec: number; requests: number; bodyBytes: number }) => progress.tick((t.bodyBytes * 8) / Math.max(t.elapsedSec, 0.001) / 1e9, t.requests),
    };
    // Fixed throughput: the open model at the rate that carries the offered Gb/s over these objects.
    const fixedRate = this.offeredGbps ? openRateFor(this.offeredGbps, objects.map((x) => x.body.length)) : undefined;
    const rate = fixedRate ?? (probeMode(this.env.options) === 'open' ? this.env.options.rate : undefined);
    const clients = this.env.clients ?? [];
    // Client hosts start together at a barrier far enough ahead for ssh, node and the object build.
    const startAtMs = clients.length ? Date.now() + this.clientLeadMs : undefined;
    let measured;
    try {
      measured = await this.bracketed(
        pids,
        () => (clients.length ? this.loadFromClients(clients, server, spec.connections, o, startAtMs!, rate) : rate ? runOpenLoad({ ...spec, rate }) : runHttpLoad(spec)),
        startAtMs,
      );
    } finally {
      await cold?.stop();
    }
    const { result: load, delta: d } = measured;
    if (!server.alive()) throw infraError(`${this.suiteId} ${o.label}: the server exited during the load (see its error.log)`);
    if (load.requests === 0) {
      throw infraError(`${this.suiteId} ${o.label}: no response from ${server.baseUrl} (${load.errors} connection errors, ${load.timeouts} timeouts)`);
    }
    // Charge the kernel only with the server's CPU. Under a CPU split the machine's CPU is the
    // server CPUs' (the client has its own); without one, on the local target, the whole machine
    // less this process (the load client), whose own CPU is known; what its packets cost in
    // softirq stays in: it cannot be told apart.
    const local = this.env.target.kind === 'local' && !this.env.options.split;
    const serverCores = d.serverCores ?? (local ? Math.max(0, d.targetBusyCores - load.clientCpu) : d.targetBusyCores);
    const machineCores = Math.max(0, d.machineBusyCores - (local ? load.clientCpu : 0));
    const machineBusy = d.machineBusyCores > 0 ? (d.machineBusy * machineCores) / d.machineBusyCores : 0;
    const notes: string[] = [];
    if (fixedRate) {
      const carried = (load.bodyBytes * 8) / load.durationSec / 1e9;
      notes.push(`fixed throughput: ${this.offeredGbps!.toFixed(3)} Gb/s offered = ${fixedRate.toFixed(1)} req/s over ${objects.length} objects`);
      // Short of the offer: CPU % then describes a lighter load; the verdict (offeredLoadRule) makes it inconclusive.
      if (offerNotCarried(carried, this.offeredGbps)) notes.push(`fixed throughput not carried: ${carried.toFixed(3)} of ${this.offeredGbps!.toFixed(3)} Gb/s`);
    }
    const carriedRate = load.requests / Math.max(load.durationSec, 1e-9);
    if (!fixedRate && load.offeredRate && carriedRate < CARRIED_SHARE * load.offeredRate) {
      notes.push(`offered load not carried: ${carriedRate.toFixed(1)} of ${load.offeredRate.toFixed(1)} requests/s (${((carriedRate / load.offeredRate) * 100).toFixed(1)}%, under ${CARRIED_SHARE * 100}%)`);
    }
    if (load.clients && load.clientSkewMs !== undefined) {
      const skew = load.clientSkewMs / 1000;
      notes.push(`client windows started ${load.clientSkewMs.toFixed(0)} ms apart (start barrier)${skew > CLIENT_SKEW_WARN * load.durationSec ? `: more than ${CLIENT_SKEW_WARN * 100}% of the ${load.durationSec.toFixed(1)} s window, so the merged rate understates the load (a client host's clock out of step, or slower to start than the barrier allowed)` : ''}`);
    }
    if (load.clients) {
      notes.push(`load from ${load.clients.length} clients: ${load.clients.map((c) => `${c.name} ${c.requests} req, ${(c.clientCpu * 100).toFixed(0)}% CPU${c.clientDemand !== undefined ? `, ${(c.clientDemand * 100).toFixed(0)}% demand` : ''}`).join('; ')}`);
      for (const c of load.clients.filter((x) => x.clientBound)) notes.push(c.clientBoundReason?.replace('the load client', `load client ${c.name}`) ?? `client-bound: load client ${c.name} used ${(c.clientCpu * 100).toFixed(0)}% of a core, so throughput reflects the client, not the target`);
    } else if (load.clientBound) {
      notes.push(load.clientBoundReason ?? `client-bound: the load generator used ${(load.clientCpu * 100).toFixed(0)}% of a core, so throughput reflects the client, not the target`);
    }
    if (load.non2xx > 0) notes.push(`${load.non2xx} non-2xx responses`);
    if (server.tlsInfo) notes.push(`TLS: ${server.tlsInfo}`);
    return {
      durationMs: load.durationSec * 1000,
      metrics: httpMetrics(load, { serverCores, targetBusy: d.targetBusy, machineCores, machineBusy }),
      tailSamples: httpTailSamples(load),
      counters: d.counters,
      verification: load.verification,
      clientBound: load.clientBound,
      notes,
    };
  }

  /**
   * The same load from every client host at once (`headgate load-worker` over the client's
   * driver, each verifying every body it reads), merged exactly (histograms add up). Open model
   * (`rate`): each host offers an equal share of the arrivals.
   */
  private async loadFromClients(
    clients: LoadClient[],
    server: HttpServer,
    connections: number,
    o: { durationSec: number; objects?: ObjectClass; cache?: 'hot' | 'cold' },
    startAtMs: number,
    rate?: number,
  ): Promise<HttpLoadResult> {
    const { seed, totalMiB, coldMiB } = this.env.options.objects;
    const cold = o.cache === 'cold';
    const objects = cold ? { seed: seed + 1, totalMiB: coldMiB ?? totalMiB, prefix: `/cold-${coldMiB ?? totalMiB}MiB` } : { seed, totalMiB, prefix: '' };
    const dispatchedAtMs = Date.now();
    const lead = Math.max(0, startAtMs - dispatchedAtMs);
    const parts = await Promise.all(
      clients.map(async (c, i) => {
        const spec: LoadWorkerSpec = {
          baseUrl: server.baseUrl,
          objects: { ...objects, kind: o.objects },
          connections,
          durationSec: o.durationSec,
          orderSeed: 1000 + i,
          startAtMs,
          ...(rate ? { rate: rate / clients.length, share: { index: i, count: clients.length } } : {}),
        };
        const r = await c.target.exec(['node', path.posix.join(c.headgateDir, 'bin', 'headgate.js'), 'load-worker'], {
          input: JSON.stringify(spec),
          allowFail: true,
          timeoutMs: (o.durationSec + 90) * 1000 + lead,
        });
        if (r.code !== 0) throw infraError(`load client ${c.name}: load-worker exited ${r.code}: ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 300)}`);
        let result: HttpLoadResult;
        try {
          result = JSON.parse(r.stdout) as HttpLoadResult;
        } catch {
          throw infraError(`load client ${c.name}: load-worker printed no result (${r.stdout.slice(0, 120)})`);
        }
        // A headgate there that predates the open model on clients ran the closed one instead.
        if (rate && result.offeredRate === undefined) throw infraError(`load client ${c.name}: its load-worker ran the closed model when asked for ${(rate / clients.length).toFixed(1)} requests/s (an older headgate in ${c.headgateDir}): update it`);
        return { name: c.name, result };
      }),
    );
    // The next barrier: 1.5x the slowest client's dispatch-to-ready time (ssh, node start, CLI load,
    // object build; a loaded 2-core machine took over a second to start node) plus a second.
    const ready = parts.flatMap((p) => (p.result.readyAtMs !== undefined ? [p.result.readyAtMs - dispatchedAtMs] : []));
    if (ready.length) this.clientLeadMs = Math.min(10_000, Math.max(CLIENT_MIN_LEAD_MS, 1000 + 1.5 * Math.max(0, ...ready)));
    return mergeLoadResults(parts);
  }

  /** Fetches objects from the server in a real browser (Debian Chromium), verifying every body's SHA-256. */
  async measureBrowser(server: HttpServer, o: { durationSec: number; objects?: ObjectClass; label: string }): Promise<RepetitionMeasurement> {
    const { progress } = this.env;
    this.useProbe('browser');
    progress.step(o.label);
    if (!this.browser) {
      const b = await launchBrowser();
      this.browser = b;
      this.suiteStack.push('close the browser client', async () => {
        this.browser = undefined;
        await b.close();
      });
    }
    const pids = await server.pids();
    const browser = this.browser;
    const { result: r, delta: d } = await this.bracketed(pids, () =>
      runBrowserLoad(browser, { baseUrl: server.baseUrl, objects: this.selectObjects(o.objects), durationSec: o.durationSec, signal: this.signal }),
    );
    if (r.fetches === 0) throw infraError(`${this.suiteId} ${o.label}: the browser fetched nothing from ${server.baseUrl}`);
    return {
      durationMs: r.durationSec * 1000,
      metrics: browserMetrics(r, d.serverCores),
      tailSamples: browserTailSamples(r),
      counters: d.counters,
      verification: r.verification,
      clientBound: false,
      notes: [`browser: ${r.fetches} fetches over ${r.protocol || 'unknown protocol'}${server.tlsInfo ? `, TLS ${server.tlsInfo}` : ''}`],
    };
  }

  /** The block device for I/O tests: the user's --block-device (checked unmounted) or a loop device made for this suite. */
  async blockDevice(sizeMiB: number): Promise<string> {
    const { os, options } = this.env;
    if (options.blockDevice) {
      // The checked real path (not /dev//loop0 or a by-id link) is the one written to.
      return os.checkDeviceUnused(options.blockDevice);
    }
    if (!this.scratchDevice) {
      // Under headgate's own directory (not the reports tree), where a dead run's journal may remove it.
      const scratchDir = path.posix.join(this.env.target.workDir ?? this.env.target.home, 'scratch');
      this.scratchDevice = await os.scratchBlockDevice(path.posix.join(scratchDir, `${path.basename(this.env.runDir)}-${this.suiteId}.img`), sizeMiB, this.suiteStack);
      this.log(`${this.suiteId}: scratch block device ${this.scratchDevice} (${sizeMiB} MiB, removed at the end)`);
    }
    return this.scratchDevice;
  }

  /** Runs a reader against a concurrent writer on a block device with fio; read latency percentiles and rates. */
  async measureBlockIo(o: { device: string; durationSec: number; reader: FioSide; writer: FioSide; label: string }): Promise<RepetitionMeasurement> {
    const { os, progress, target } = this.env;
    this.useProbe('block-io');
    progress.step(o.label);
    const { result: r, delta: d } = await this.bracketed([], () =>
      runFio(target, { device: o.device, durationSec: o.durationSec, ioengine: os.fioEngine, reader: o.reader, writer: o.writer }, this.signal),
    );
    return {
      durationMs: o.durationSec * 1000,
      metrics: blockIoMetrics(r, d.targetBusy),
      tailSamples: blockIoTailSamples(r),
      counters: d.counters,
      verification: NOTHING_VERIFIED,
      clientBound: false,
      notes: [],
    };
  }

  /** Builds the client - middle hop - server path with the impairment on the middle hop; removed when the suite ends. */
  async bottleneck(imp: Impairment): Promise<Bottleneck> {
    if (this.env.os.family === 'freebsd') {
      // Dummynet has delay and loss built in; the whole path lives on the target.
      const b = await createFreebsdBottleneck(this.env.target, imp, this.suiteStack);
      this.log(`${this.suiteId}: bottleneck ${b.clientAddress} (jail) <- [${b.qdisc}] (jail ${b.middleNs}) <- ${b.serverAddress} (vnet0)`);
      return b;
    }
    const netem = await this.env.os.capability('netem');
    const wantsNetem = Boolean(imp.delayMs || imp.lossPct);
    if (wantsNetem && !netem.ok) throw infraError(`${this.suiteId}: delay/loss asked for but ${netem.reason}`);
    const b = await createBottleneck(this.env.host, this.env.target.lab, imp, netem.ok, path.join(this.env.runDir, 'lab'), this.suiteStack);
    this.log(`${this.suiteId}: bottleneck ${b.clientAddress} <- [${b.qdisc}] <- ${b.serverAddress} (namespaces ${b.middleNs}, ${b.serverNs})`);
    return b;
  }

  async enableTcpLog(): Promise<string> {
    const os = this.env.os;
    if (!os.enableTcpLog) throw infraError(`${this.suiteId}: the ${os.family} adapter cannot turn on TCP logging`);
    const note = await os.enableTcpLog(this.knobStack, this.suiteStack);
    this.log(`${this.suiteId}: ${note}`);
    return note;
  }

  async awaitTcpLogDrained(): Promise<TcpLogDrain | null> {
    const os = this.env.os;
    if (!os.awaitTcpLogDrained) return null;
    return os.awaitTcpLogDrained((l) => this.log(`${this.suiteId}: ${l}`));
  }

  /** Sets a sysctl inside the bottleneck's server namespace (restored after the repetition, like setKnob). */
  async setServerNamespaceKnob(b: Bottleneck, name: string, value: string): Promise<void> {
    const t = this.env.target;
    const get = async () => (await t.exec([...b.serverWrap, 'sysctl', '-n', name])).stdout.trim();
    const set = async (v: string) => void (await t.exec([...b.serverWrap, 'sysctl', '-q', '-w', `${name}=${v}`]));
    const old = await get();
    if (old === value) return;
    await set(value);
    this.knobStack.push(`${b.serverNs}: sysctl ${name}=${old}`, () => set(old));
  }

  /** Bulk TCP from the server namespace to the client through the bottleneck (iperf3), with per-flow fairness. */
  async measureTcp(b: Bottleneck, o: { congestion?: string; flows: number; durationSec: number; label: string }): Promise<RepetitionMeasurement> {
    const { progress, target, host } = this.env;
    this.useProbe('tcp');
    progress.step(o.label);
    // A client jail on the target is new and empty: iperf3's own port is free there.
    const port = b.clientWrap ? 5201 : await freePort(b.clientAddress);
    // The receiver sits on the client side of the lab: this machine for a netns target, a jail for a FreeBSD one.
    const receiver = target.lab ? host : target;
    await b.activate();
    const { result: r, delta: d } = await this.bracketed([], () =>
      runIperf(target, receiver, {
      // Under a CPU split the sender (the kernel's side under test) runs on the server's CPUs; the receiver is load.
      senderWrap: this.env.options.split && !this.env.options.split.guest ? ['taskset', '-c', formatCpuList(this.env.options.split.server), ...b.serverWrap] : b.serverWrap,
      receiverWrap: b.clientWrap,
      clientAddress: b.clientAddress,
      port,
      congestion: o.congestion,
      flows: o.flows,
      durationSec: o.durationSec,
      logFile: path.join(target.lab ? this.env.runDir : this.env.targetRunDir, 'servers', `${this.suiteId}-iperf3.log`),
        signal: this.signal,
      }),
    );
    const notes = [`iperf3: ${o.flows} flows, congestion control ${r.congestion || o.congestion || 'default'}`];
    if (o.congestion && r.congestion && r.congestion !== o.congestion) notes.push(`asked for ${o.congestion}, sender used ${r.congestion}`);
    return {
      durationMs: o.durationSec * 1000,
      metrics: tcpMetrics(r),
      counters: { ...d.counters, 'iperf3.sender_congestion_matches': !o.congestion || r.congestion === o.congestion ? 1 : 0 },
      verification: NOTHING_VERIFIED,
      clientBound: false,
      notes,
    };
  }
}
