import type { MetricDef, RunOptions, SuiteManifest, VariantDef } from '../model/types.js';
import { browserProbe } from './browser.js';
import { blockIoProbe } from './fio.js';
import { httpProbe } from './http.js';
import { tcpProbe } from './iperf.js';
import type { ProbeDeclaration, ProbeMetric, ProbeMode } from './probe.js';

export type { ProbeDeclaration, ProbeMetric, ProbeMode };

/**
 * Every probe a suite can name in suite.json "probes". Each probe declares the metrics it
 * produces next to the code that computes them, so a suite's metric list can be checked
 * against what will really be measured instead of trusted.
 */
export const PROBES: ReadonlyMap<string, ProbeDeclaration> = new Map(
  [httpProbe, browserProbe, blockIoProbe, tcpProbe].map((p) => [p.id, p]),
);

/** The probe mode of a run: --rate and --fixed-throughput switch HTTP load to the open model. */
export function probeMode(o: Pick<RunOptions, 'rate' | 'fixedThroughput'>): ProbeMode {
  return o.rate || o.fixedThroughput ? 'open' : 'closed';
}

/**
 * A suite's metric definitions as this run gates them: under --fixed-throughput a metric's
 * gatingAtFixedThroughput (when set) replaces its gating flag, so machine CPU % at the offered
 * rate gates there. The result carries the resolved flag only (what run.json records).
 */
export function metricsForRun(defs: readonly MetricDef[], o: Pick<RunOptions, 'fixedThroughput'>): MetricDef[] {
  return defs.map(({ gatingAtFixedThroughput, ...d }) => ({ ...d, gating: o.fixedThroughput && gatingAtFixedThroughput !== undefined ? gatingAtFixedThroughput : d.gating }));
}

/** The declared probes of a suite (unknown ids are left out: checkManifestMetrics reports them). */
function suiteProbes(m: Pick<SuiteManifest, 'probes'>): ProbeDeclaration[] {
  return (m.probes ?? []).flatMap((id) => PROBES.get(id) ?? []);
}

/** The suite's probes that measure one of its variants. */
export function variantProbes(m: Pick<SuiteManifest, 'probes'>, v: VariantDef): ProbeDeclaration[] {
  return suiteProbes(m).filter((p) => p.measures(v));
}

const find = (p: ProbeDeclaration, id: string) => p.metrics.find((x) => x.id === id);

/**
 * Why a suite's declared metrics disagree with its probes, one phrase per problem, each naming
 * the key (metrics/ID, derives/ID, probes/ID): every metric must be produced by a declared probe
 * with the same unit and direction, or be listed in "derives" (computed by the suite's code).
 * Empty when they agree.
 */
export function manifestMetricProblems(m: Pick<SuiteManifest, 'probes' | 'derives' | 'metrics'>): string[] {
  const out: string[] = [];
  for (const id of m.probes ?? [])
    if (!PROBES.has(id)) out.push(`probes/${id}: unknown probe (known: ${[...PROBES.keys()].join(', ')})`);
  const probes = suiteProbes(m);
  const derives = new Set(m.derives ?? []);
  const declared = new Set<string>();
  const produces = () =>
    probes.length
      ? probes.map((p) => `${p.id} produces: ${p.metrics.map((x) => x.id).join(', ')}`).join('; ')
      : 'the suite declares no probes';
  for (const def of m.metrics) {
    if (declared.has(def.id)) out.push(`metrics/${def.id}: declared twice`);
    declared.add(def.id);
    const producers = probes.filter((p) => find(p, def.id));
    if (derives.has(def.id)) {
      // One source per metric: a derived id that a probe also writes would be overwritten silently.
      if (producers.length)
        out.push(
          `metrics/${def.id}: listed in derives, but the ${producers[0].id} probe produces it; remove it from derives`,
        );
      continue;
    }
    if (!producers.length) {
      const hint = "a metric the suite's code computes belongs in derives";
      out.push(`metrics/${def.id}: no probe of this suite produces it (${produces()}); ${hint}`);
      continue;
    }
    for (const p of producers) {
      const pm = find(p, def.id)!;
      if (pm.unit !== def.unit)
        out.push(`metrics/${def.id}: unit "${def.unit}", but the ${p.id} probe produces it in "${pm.unit}"`);
      if (pm.direction !== def.direction)
        out.push(
          `metrics/${def.id}: direction "${def.direction}", but for the ${p.id} probe ${pm.direction} is better`,
        );
    }
  }
  for (const id of derives) if (!declared.has(id)) out.push(`derives/${id}: not declared in metrics`);
  return out;
}

/** The gating metric ids a variant must produce: its probes' and the suite's derived ones. */
export function expectedGating(m: Pick<SuiteManifest, 'probes' | 'derives' | 'metrics'>, v: VariantDef): string[] {
  const probes = variantProbes(m, v);
  const derives = new Set(m.derives ?? []);
  return m.metrics.filter((d) => d.gating && (derives.has(d.id) || probes.some((p) => p.metrics.some((pm) => pm.id === d.id)))).map((d) => d.id);
}
