import { execFileSync } from 'node:child_process';
import type { Stats } from 'node:fs';
import { createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyTreeSafely, extractTarSafely } from '../../harness/lib/tree.js';

// H1: a target's archive (server logs, guest artifacts) is extracted as root. A hostile target can
// put setuid binaries, device nodes, links out of the destination and '..' names into it.

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'hg-tree-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Every entry under dir (relative), with its lstat. */
function walk(dir: string, base = dir): { rel: string; st: Stats }[] {
  const out: { rel: string; st: Stats }[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    out.push({ rel: path.relative(base, p), st });
    if (st.isDirectory()) out.push(...walk(p, base));
  }
  return out;
}

/** A source tree as a hostile target would send it: setuid and world-writable files owned by nobody, a device node, a FIFO, links out. */
function hostileTree(root: string, outside: string): void {
  mkdirSync(path.join(root, 'logs'), { recursive: true });
  writeFileSync(path.join(root, 'logs', 'access.log'), 'GET / 200\n');
  writeFileSync(path.join(root, 'suid'), '#!/bin/sh\nid\n');
  chmodSync(path.join(root, 'suid'), 0o6777);
  chownSync(path.join(root, 'suid'), 65534, 65534);
  symlinkSync(outside, path.join(root, 'escape'));
  symlinkSync('/etc/shadow', path.join(root, 'shadow'));
  execFileSync('mknod', [path.join(root, 'null2'), 'c', '1', '3']);
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
}

/** The destination holds only regular files and directories, modes without setuid/setgid/sticky or group/other write, owned by us. */
function expectSafe(dest: string): void {
  for (const { rel, st } of walk(dest)) {
    expect(st.isFile() || st.isDirectory(), `${rel} is a regular file or directory`).toBe(true);
    expect(st.mode & 0o7022, `${rel} mode ${(st.mode & 0o7777).toString(8)}`).toBe(0);
    expect(st.uid, `${rel} owner`).toBe(process.getuid!());
  }
}

describe('archives and trees from a target (H1)', () => {
  it('a tar stream keeps regular files only: no setuid, devices, FIFOs, links, owners or names outside', async () => {
    const src = tmp();
    const outside = tmp();
    const dest = tmp();
    hostileTree(src, outside);
    const tarFile = path.join(tmp(), 'a.tar');
    execFileSync('tar', ['-cf', tarFile, '-C', src, '.']);
    // Names that leave the destination, in the same archive: '../' and an absolute path.
    const evil = tmp();
    writeFileSync(path.join(evil, 'planted'), 'x');
    execFileSync('tar', ['-rf', tarFile, '-C', evil, '--transform', 's,^planted,../../planted-by-target,', 'planted']);
    execFileSync('tar', ['-rf', tarFile, '-P', '--transform', `s,^.*planted$,${outside}/abs-planted,`, path.join(evil, 'planted')]);
    // A link entry, then a file written through it.
    const via = tmp();
    symlinkSync(outside, path.join(via, 'through'));
    execFileSync('tar', ['-rf', tarFile, '-C', via, 'through']);
    writeFileSync(path.join(evil, 'through'), 'x');
    execFileSync('tar', ['-rf', tarFile, '-C', evil, '--transform', 's,^through,through/via-link,', 'through']);

    const skipped = await extractTarSafely(createReadStream(tarFile), dest);
    expectSafe(dest);
    expect(readdirSync(outside), 'nothing was written outside the destination').toEqual([]);
    expect(existsSync(path.join(dest, '..', '..', 'planted-by-target'))).toBe(false);
    expect(existsSync(path.join(dest, 'logs', 'access.log'))).toBe(true);
    expect(lstatSync(path.join(dest, 'suid')).mode & 0o7777).toBe(0o755);
    expect(skipped.join('\n')).toMatch(/escape \(SymbolicLink\)/);
    expect(skipped.join('\n')).toMatch(/null2 \(CharacterDevice\)/);
    expect(skipped.join('\n')).toMatch(/fifo \(FIFO\)/);
  });

  it('a local copy of a tree does the same', async () => {
    const src = tmp();
    const outside = tmp();
    const dest = path.join(tmp(), 'copy');
    hostileTree(src, outside);
    const skipped = await copyTreeSafely(src, dest);
    expectSafe(dest);
    expect(readdirSync(outside)).toEqual([]);
    expect(skipped.sort()).toEqual(['escape', 'fifo', 'null2', 'shadow']);
    expect(existsSync(path.join(dest, 'logs', 'access.log'))).toBe(true);
  });
});
