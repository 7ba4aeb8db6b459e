import path from 'node:path';
import type { ExpectedObject } from '../load/http.js';
import { runHttpLoad } from '../load/http.js';
import { runOpenLoad } from '../load/open.js';
import { diff, snapshot } from '../collectors/snapshot.js';
import type { OsAdapter } from '../os/adapter.js';
import { externalServer, startNginx, type HttpServer } from '../servers/nginx.js';
import type { Target } from '../targets/target.js';
import { CleanupStack } from './cleanup.js';
import { infraError } from './errors.js';
import type { Progress } from './progress.js';
import type { RepetitionMeasurement, SuiteContext } from './suite.js';
import type { Fingerprint, ObjectClass, RunOptions, VariantDef } from './types.js';

/** Everything the runner shares with the suite contexts it creates. */
export interface RunEnvironment {
  target: Target;
  os: OsAdapter;
  fingerprint: Fingerprint;
  options: RunOptions;
  signal: AbortSignal;
  progress: Progress;
  runDir: string;
  objectsDir: string;
  objects: (ExpectedObject & { kind: string })[];
}

const ms = (us: number) => us / 1000;

/**
 * The harness API given to one suite. Servers live on the suite's stack (stopped when the suite
 * ends); knobs live on a per-repetition stack the runner unwinds after each repetition.
 */
export class HarnessContext implements SuiteContext {
  readonly knobStack = new CleanupStack();
  /** The signal of the current step (the run's signal plus the step deadline); set by the runner. */
  stepSignal?: AbortSignal;
  constructor(
    private readonly env: RunEnvironment,
    readonly suiteId: string,
    private readonly suiteStack: CleanupStack,
    private readonly artifacts: (variant: string, files: Record<string, string>) => void,
  ) {}

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
  setKnob(name: string, value: string): Promise<void> {
    return this.env.os.setKnob(name, value, this.knobStack);
  }

  async startHttpServer(variant: VariantDef): Promise<HttpServer> {
    if (this.env.options.serverUrl) return externalServer(this.env.options.serverUrl);
    const server = await startNginx(
      this.env.target,
      {
        suite: this.suiteId,
        variant: variant.id,
        prefix: path.join(this.env.runDir, 'servers', `${this.suiteId}-${variant.id}`),
        root: this.env.objectsDir,
        address: this.env.target.address,
        workers: this.env.options.serverWorkers,
        variantDirectives: variant.nginx ?? [],
        userDirectives: this.env.options.serverDirectives,
        cpus: this.env.options.serverCpus,
      },
      this.suiteStack,
    );
    this.artifacts(variant.id, server.artifacts);
    return server;
  }

  async measureHttp(server: HttpServer, o: { durationSec: number; connections?: number; objects?: ObjectClass; label: string }): Promise<RepetitionMeasurement> {
    const { os, fingerprint, progress } = this.env;
    progress.step(o.label);
    const pids = await server.pids();
    const before = await snapshot(os, pids);
    const spec = {
      baseUrl: server.baseUrl,
      objects: !o.objects || o.objects === 'all' ? this.env.objects : this.env.objects.filter((x) => x.kind === o.objects),
      connections: o.connections ?? this.env.options.connections,
      durationSec: o.durationSec,
      signal: this.signal,
      onTick: (t: { elapsedSec: number; requests: number; bodyBytes: number }) => progress.tick((t.bodyBytes * 8) / Math.max(t.elapsedSec, 0.001) / 1e9, t.requests),
    };
    const rate = this.env.options.rate;
    const load = rate ? await runOpenLoad({ ...spec, rate }) : await runHttpLoad(spec);
    const after = await snapshot(os, pids);
    if (!server.alive()) throw infraError(`${this.suiteId} ${o.label}: the server exited during the load (see its error.log)`);
    if (load.requests === 0) {
      throw infraError(`${this.suiteId} ${o.label}: no response from ${server.baseUrl} (${load.errors} connection errors, ${load.timeouts} timeouts)`);
    }
    const d = diff(before, after, fingerprint.cpuCount);
    // Charge the kernel only with the server's CPU: on the local target the client shares the box.
    const serverCores = d.serverCores ?? (this.env.target.kind === 'local' ? Math.max(0, d.targetBusyCores - load.clientCpu) : d.targetBusyCores);
    const gbps = (load.bodyBytes * 8) / load.durationSec / 1e9;
    const notes: string[] = [];
    if (load.clientBound) {
      notes.push(`client-bound: the load generator used ${(load.clientCpu * 100).toFixed(0)}% of a core, so throughput reflects the client, not the target`);
    }
    if (load.non2xx > 0) notes.push(`${load.non2xx} non-2xx responses`);
    return {
      durationMs: load.durationSec * 1000,
      metrics: {
        throughput_gbps: gbps,
        requests_per_sec: load.requests / load.durationSec,
        latency_p50_ms: ms(load.latencyUs.p50),
        latency_p99_ms: ms(load.latencyUs.p99),
        latency_p999_ms: ms(load.latencyUs.p999),
        server_cpu_pct: serverCores * 100,
        target_cpu_pct: d.targetBusy * 100,
        client_cpu_pct: load.clientCpu * 100,
        gbps_per_core: gbps / Math.max(serverCores, 0.01),
        errors: load.errors + load.timeouts,
        verification_failures: load.verification.failed,
      },
      counters: d.counters,
      verification: load.verification,
      clientBound: load.clientBound,
      notes,
    };
  }
}
