import type { HttpServer } from '../drivers/servers/nginx.js';
import type { FioSide } from '../probes/fio.js';
import type { Bottleneck, Impairment } from '../drivers/net/bottleneck.js';

/** Lab types a suite names (re-exported: suites import the harness API, never a driver). */
export type { Bottleneck, Impairment };

/** Metrics and proofs several suites share (re-exported: a suite never imports a sibling suite). */
export { diskReadPct, freebsdKtls, ktlsPath, ktlsTxProof, ktlsTxSession } from './suite-shared.js';

/** Which machine a knob lives on: the target, or the host of the netns lab path (global sysctls a namespace cannot change). */
export type KnobHost = 'target' | 'path-host';
import type { Capability, TcpLogDrain } from '../drivers/os/adapter.js';

export type { TcpLogDrain };
import type { Fingerprint, ObjectClass, Repetition, RunOptions, SuiteManifest, VariantDef } from '../model/types.js';

/**
 * Where the load's connections come from, as the target sees them (for checks that depend on the
 * interface the server's data leaves by): an address the target can route to, the peer of the
 * harness's ssh session on the target, or unknown; `why` says how it was chosen, for the report.
 */
export type LoadPeer = { why: string } & ({ via: 'address'; address: string } | { via: 'ssh-peer' } | { via: 'unknown' });

/** Measurements of one repetition, as returned to the runner by a suite. */
export type RepetitionMeasurement = Omit<Repetition, 'index' | 'startedAt'>;

/** The harness API a suite sees. Suites never import a target or OS driver directly. */
export interface SuiteContext {
  readonly suiteId: string;
  readonly options: RunOptions;
  readonly fingerprint: Fingerprint;
  readonly signal: AbortSignal;
  log(line: string): void;
  /** Whether the target has a kernel capability (e.g. "ktls"), with the exact reason if not. */
  capability(name: string): Promise<Capability>;
  /**
   * The sources of the HTTP load toward a server at serverHost: each --client host (at its
   * inventory address), else this process on the controller (the ssh peer only when the load
   * reaches the target at the address its ssh session uses; the server's own address when the
   * controller is the target's machine).
   */
  loadPeers(serverHost: string): LoadPeer[];
  /** Reads a kernel knob (sysctl name, or a /sys path on Linux) on the target; `where: 'path-host'` reads it on the host that carries the lab's network path (the harness host for a netns target). */
  getKnob(name: string, where?: KnobHost): Promise<string>;
  /** Sets a kernel knob on the target; it is restored when the current variant's repetition ends. */
  setKnob(name: string, value: string, where?: KnobHost): Promise<void>;
  /**
   * Starts the server under test for a variant (nginx from the template, HTTPS with a per-run
   * certificate when the variant has tls, inside the bottleneck's server namespace if given;
   * or the --server-url server).
   */
  startHttpServer(variant: VariantDef, where?: { bottleneck?: Bottleneck }): Promise<HttpServer>;
  /**
   * Runs HTTP load against a server with every body verified; collects CPU and counter deltas.
   * cache "cold" evicts the objects before and during the load. The `http` probe: suite.json
   * must list it in "probes" (its metrics are checked against the manifest when the suite loads).
   */
  measureHttp(
    server: HttpServer,
    o: { durationSec: number; connections?: number; objects?: ObjectClass; label: string; cache?: 'hot' | 'cold' },
  ): Promise<RepetitionMeasurement>;
  /** Fetches objects in a real browser, verifying each body, with Resource Timing metrics (the `browser` probe). */
  measureBrowser(server: HttpServer, o: { durationSec: number; objects?: ObjectClass; label: string }): Promise<RepetitionMeasurement>;
  /** The block device for I/O tests: --block-device, or a loop device created for the suite. */
  blockDevice(sizeMiB: number): Promise<string>;
  /** fio: a reader against a concurrent writer on the device; read latency percentiles and rates (the `block-io` probe). */
  measureBlockIo(o: { device: string; durationSec: number; reader: FioSide; writer: FioSide; label: string }): Promise<RepetitionMeasurement>;
  /** A client - middle hop - server path in namespaces this run creates, impaired on the middle hop. */
  bottleneck(imp: Impairment): Promise<Bottleneck>;
  /**
   * Turns on the target kernel's TCP event log until the current repetition ends (FreeBSD: TCP
   * black-box logging of every new connection; Linux: every tcp tracepoint into a tracefs
   * instance of the run's own); every change is journaled and undone. Its record counters
   * (`tcplog.records`, `tcplog.lost`) come with the `tcplog` counter group. Returns a note.
   */
  enableTcpLog(): Promise<string>;
  /**
   * Waits (bounded) until no TCP log record of a session selected earlier is alive, so a
   * logging-off repetition does not count what those sessions log when they end (FreeBSD:
   * net.inet.tcp.bb.log_global_entries reaches 0). null where the OS has no such count.
   */
  awaitTcpLogDrained(): Promise<TcpLogDrain | null>;
  /** Sets a sysctl in the bottleneck's server namespace, restored after the repetition. */
  setServerNamespaceKnob(b: Bottleneck, name: string, value: string): Promise<void>;
  /** Bulk TCP transfer from the server namespace through the bottleneck (iperf3; the `tcp` probe). */
  measureTcp(b: Bottleneck, o: { congestion?: string; flows: number; durationSec: number; label: string }): Promise<RepetitionMeasurement>;
}

/** A prepared variant: warm it up, then measure repetitions. */
export interface VariantSession {
  /** Warms the variant up; returns the warm-up's measurement when it took one (its throughput is the capacity --fixed-throughput N% refers to). */
  warmup(): Promise<RepetitionMeasurement | void>;
  repetition(index: number): Promise<RepetitionMeasurement>;
}

/** A suite: its manifest (data) plus how to prepare a variant (code). */
export interface Suite {
  manifest: SuiteManifest;
  /** Optional extra check per variant beyond the manifest's `requires` list. */
  probe?(ctx: SuiteContext, variant: VariantDef): Promise<Capability>;
  prepare(ctx: SuiteContext, variant: VariantDef): Promise<VariantSession>;
}

/** What suites/<id>/index.ts exports by default; the manifest comes from suite.json beside it. */
export type SuiteModule = Omit<Suite, 'manifest'>;

/** Declares a suite's code (typed helper, like vitest's defineConfig). */
export function defineSuite(s: SuiteModule): SuiteModule {
  return s;
}

/**
 * The common shape of an HTTP suite's variant: one server per variant, warm-up, then each
 * repetition measured by the variant's client (load generator or browser) with its cache state.
 * `derive` adds suite-specific metrics computed from the repetition's counters; their ids must be
 * listed in suite.json "derives".
 */
export async function httpVariantSession(
  ctx: SuiteContext,
  variant: VariantDef,
  derive?: (m: RepetitionMeasurement) => Record<string, number>,
): Promise<VariantSession> {
  const server = await ctx.startHttpServer(variant);
  const measure = async (durationSec: number, label: string) => {
    const m =
      variant.client === 'browser'
        ? await ctx.measureBrowser(server, { durationSec, label, objects: variant.objects })
        : await ctx.measureHttp(server, { durationSec, label, objects: variant.objects, connections: variant.connections, cache: variant.cache });
    if (derive) Object.assign(m.metrics, derive(m));
    return m;
  };
  return variantSession(ctx, variant, measure);
}

/** A variant session from one measure function: warm-up for --warmup seconds (if any), then repetitions of --duration. */
export function variantSession(
  ctx: SuiteContext,
  variant: VariantDef,
  measure: (durationSec: number, label: string) => Promise<RepetitionMeasurement>,
): VariantSession {
  return {
    async warmup() {
      if (ctx.options.warmupSec > 0) return measure(ctx.options.warmupSec, `${variant.id} warm-up`);
    },
    repetition: (i) => measure(ctx.options.durationSec, `${variant.id} #${i + 1}`),
  };
}
