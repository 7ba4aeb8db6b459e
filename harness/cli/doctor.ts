import type { Command } from 'commander';
import { doctorChecks } from '../app/doctor.js';
import { ExitCode } from '../model/errors.js';
import { action } from './common.js';

/** Registers `doctor`: everything the harness needs here and on the target, with how to fix it. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check what the harness needs on this machine and the target, and say how to install what is missing')
    .option('--target <name>', 'target to check (local, ssh:[user@]host[:port], netns, an inventory name)', 'local')
    .option('--inventory <file>', 'inventory file (default: inventory.yaml if present)')
    .option('--json', 'print as JSON')
    .action(
      action(async (o: { target: string; inventory?: string; json?: boolean }) => {
        const checks = await doctorChecks(o.target, o.inventory);
        const bad = checks.filter((c) => !c.ok && c.required);
        if (o.json) process.stdout.write(JSON.stringify({ ok: bad.length === 0, checks }, null, 2) + '\n');
        else {
          for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'} ${c.what}: ${c.detail}${!c.ok && c.fix ? `\n       fix: ${c.fix}` : ''}\n`);
          process.stdout.write(bad.length ? `${bad.length} required check(s) failed\n` : 'all required checks passed\n');
        }
        return bad.length ? ExitCode.Infrastructure : ExitCode.Pass;
      }),
    );
}
