import type { Command } from 'commander';
import Table from 'cli-table3';
import path from 'node:path';
import { runGate, type GateMode, type TargetOutcome } from '../app/gate.js';
import { abortOnSignals } from '../lib/cleanup.js';
import type { GateOptions } from '../model/options.js';
import { verdictTable } from '../reporters/console.js';
import { action, output, reportError } from './common.js';
import { addOptions, GROUPS, resolveCommandOptions } from './options.js';

/** Prints where the evidence is, on stderr (stdout is for --json). */
export function printPaths(runDir: string, files: string[], prefix = ''): void {
  const rel = (f: string) => path.relative(process.cwd(), f) || '.';
  process.stderr.write(`${prefix}run directory: ${rel(runDir)}\n`);
  for (const f of files.filter((x) => /summary\.md$|junit\.xml$|index\.html$/.test(x))) process.stderr.write(`${prefix}  ${rel(f)}\n`);
}

/** One target's verdict table, verdict line and paths (or its JSON with --json). */
export function printOutcome(o: TargetOutcome, g: Pick<GateOptions, 'baselines'>, json: boolean, write: (t: string) => void, prefix = ''): void {
  const record = o.record!;
  const c = record.comparison;
  if (json) {
    write(JSON.stringify({ runId: record.runId, runDir: o.runDir, status: record.status, profile: record.profile, verdict: c?.verdict ?? null, exitCode: o.code, summary: c?.summary ?? null, files: o.files }, null, 2) + '\n');
  } else {
    write(verdictTable(record, c) + '\n');
    const integrity = o.integrityFailures ?? [];
    if (!c && integrity.length) write(`FAIL: ${integrity.length} payload verification failure(s) (exit ${o.code})\n`);
    if (c) write(`verdict: ${c.verdict.toUpperCase()}: ${c.summary} (exit ${o.code})\n`);
    if (c?.verdict === 'no-baseline') {
      write(`no baseline for profile ${record.profile} in ${g.baselines}/; to make this run the reference:\n  npx headgate baseline promote ${record.runId} --reason "..."\n`);
    }
  }
  printPaths(o.runDir!, o.files, prefix);
}

async function runCommand(cmd: Command, mode: GateMode): Promise<number> {
  const g = await resolveCommandOptions(cmd);
  const { json, quiet } = output(cmd);
  const { signal, dispose } = abortOnSignals();
  try {
    const log = (l: string) => process.stderr.write(l + '\n');
    const result = await runGate(g, mode, { signal, log, quiet }, (o, prefix) => {
      // With several targets, stdout carries the combined table (or JSON); each target's own lines go to stderr.
      const write = prefix ? (t: string) => process.stderr.write(t.split('\n').map((l) => (l ? prefix + l : l)).join('\n')) : (t: string) => process.stdout.write(t);
      printOutcome(o, g, json && !prefix, write, prefix);
    }, reportError);
    if (result.outcomes.length === 0 && result.shardNote) process.stdout.write(result.shardNote + '\n');
    if (result.outcomes.length > 1) {
      if (json) {
        const targets = result.outcomes.map((x) => ({ name: x.host, code: x.code, runDir: x.runDir, verdict: x.record?.comparison?.verdict ?? x.record?.status, error: x.error, sec: x.sec }));
        process.stdout.write(JSON.stringify({ exitCode: result.code, wallSec: result.wallSec, targets }, null, 2) + '\n');
      } else {
        const t = new Table({ head: ['target', 'verdict', 'exit', 'seconds', 'run directory / error'], style: { head: [], border: [] } });
        for (const x of result.outcomes) t.push([x.host, x.record?.comparison?.verdict ?? x.record?.status ?? 'error', x.code, x.sec.toFixed(0), x.error ?? path.relative(process.cwd(), x.runDir ?? '')]);
        process.stdout.write(`${t.toString()}\n${result.outcomes.length}/${result.hosts.length} targets finished in ${result.wallSec.toFixed(0)} s; combined exit ${result.code}\n`);
      }
    }
    return result.code;
  } finally {
    dispose();
  }
}

/** Registers `run` and `gate`. */
export function registerRunCommands(program: Command): void {
  addOptions(program.command('run').description('run suites on a target and write the run directory (no verdict)'), GROUPS.run)
    .option('--report', 'also build the Allure report')
    .action(action((_o, cmd: Command) => runCommand(cmd, { gate: false, report: !!cmd.opts().report })));

  addOptions(program.command('gate').description('run, compare with the stored baseline, write reports, exit with the verdict'), GROUPS.gate)
    .action(action((_o, cmd: Command) => runCommand(cmd, { gate: true })));
}
