import { readdirSync } from 'node:fs';
import os from 'node:os';

// vitest globalSetup (vitest.config.ts): a test run must leave nothing of headgate's in the
// system temp directory. One CI run once left 19 directories and 1.4 GB there; on an agent that
// gates every merge the disk fills. Before the run the matching entries are recorded; after it,
// any new one is printed and the run fails.
//
// The prefixes are every name headgate and its tests create there: hg-* (test directories made
// with test/helpers/temp.ts tempDir, ssh control sockets hg-ssh-*, netns labs hg-lab-*, qemu state
// hg-qemu-*) and headgate-* (bench/verdict-quality.ts).
export const LEFTOVER = /^(hg-|headgate-)/;

const entries = () => new Set(readdirSync(os.tmpdir()).filter((n) => LEFTOVER.test(n)));

let before = new Set<string>();

export function setup(): void {
  before = entries();
}

export function teardown(): void {
  const left = [...entries()].filter((n) => !before.has(n)).sort();
  if (left.length === 0) return;
  process.stderr.write(
    `\ntest run left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} of headgate's in ${os.tmpdir()} (remove them in afterAll/afterEach; test/helpers/temp.ts tempDir does it for you):\n` +
      left.map((n) => `  ${os.tmpdir()}/${n}\n`).join(''),
  );
  process.exitCode = 1;
}
