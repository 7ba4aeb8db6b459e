import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRemoteProcess, REMOTE_PROCESS_SCRIPT } from '../../harness/drivers/journal.js';
import { freebsdStart, lookupProcessStart, parseBoottime, parseMachineIdentity, parseProcStatStart, parsePsLstart, sameStart } from '../../harness/lib/machine.js';
import { runSync } from '../../harness/lib/exec.js';

// M6 / W3: process identity on FreeBSD (fixture-tested: no FreeBSD here) and on Linux (for real).

/** A real `sysctl kern.boottime` line from FreeBSD 12.1-RELEASE (jc's fixture, see test/fixtures/freebsd/real). */
const BOOTTIME_12_1 = readFileSync(new URL('../fixtures/freebsd/real/sysctl-kern.boottime-12.1.txt', import.meta.url), 'utf8');

describe('FreeBSD process identity (fixture-tested)', () => {
  it('reads kern.boottime as sysctl.c S_timeval prints it (real 12.1 output)', () => {
    expect(parseBoottime(BOOTTIME_12_1)).toBe('1594339054.740932');
    expect(parseBoottime('{ sec = 1594339054, usec = 5 } Thu Jul  9 16:57:34 2020')).toBe('1594339054.000005');
    expect(parseBoottime('sysctl: unknown oid')).toBe('');
  });

  it('reads `ps -o lstart=` in the C locale and UTC (strftime %c: "%a %b %e %H:%M:%S %Y", day padded with a space)', () => {
    // The ctime tail of the real boottime line is local time (PDT); in UTC the boot was 23:57:34.
    expect(parsePsLstart('Thu Jul  9 23:57:34 2020')).toBe(1594339054);
    expect(parsePsLstart('Mon Dec  7 10:58:38 2026\n')).toBe(Date.UTC(2026, 11, 7, 10, 58, 38) / 1000);
    expect(parsePsLstart('Thu Jul 19 23:57:34 2020')).toBe(1594339054 + 10 * 86400);
    // Another locale or a header line is not a start time: unknown, never "gone".
    expect(parsePsLstart('jeu.  9 juil. 23:57:34 2020')).toBeNull();
    expect(parsePsLstart('STARTED')).toBeNull();
    expect(parsePsLstart('')).toBeNull();
  });

  it('a start time is relative to boot, so a clock step (which moves boottime and lstart together) keeps it; one second of tolerance', () => {
    const before = freebsdStart(1594339054 + 30, 1594339054);
    const stepped = freebsdStart(1594339054 + 30 + 3600, 1594339054 + 3600);
    expect(before).toBe('fb:30');
    expect(sameStart(before, stepped)).toBe(true);
    expect(sameStart('fb:30', 'fb:31')).toBe(true);
    expect(sameStart('fb:30', 'fb:32')).toBe(false);
    expect(sameStart('', '')).toBe(false);
    expect(sameStart('fb:30', '30')).toBe(false);
  });

  it('parses REMOTE_PROCESS_SCRIPT output from a FreeBSD target: alive with its command, gone, or unreadable', () => {
    const alive = ['freebsd', 'Thu Jul  9 23:58:04 2020', BOOTTIME_12_1.trim().replace(/^kern\.boottime: /, ''), 'nginx', ''].join('\n');
    expect(parseRemoteProcess(alive)).toEqual({ start: 'fb:30', comm: 'nginx' });
    expect(parseRemoteProcess('freebsd\n')).toBeNull();
    expect(parseRemoteProcess('freebsd\nThu Jul  9 23:58:04 2020\nsysctl: unknown oid\nnginx\n')).toBeNull();
  });

  it('machine identity: kern.hostuuid, kern.boot_id in hex where the kernel has it (15.1+), else kern.boottime', () => {
    const withBootId = parseMachineIdentity(['FreeBSD', '4C4C4544-0042-3510-8052-B4C04F4E4D32', '9f2b6c0e1d3a4b5c8e7f60718293a4b5', '{ sec = 1594339054, usec = 740932 } Thu Jul  9 16:57:34 2020'].join('\n'));
    expect(withBootId).toEqual({ os: 'FreeBSD', id: '4c4c4544-0042-3510-8052-b4c04f4e4d32', boot: '9f2b6c0e1d3a4b5c8e7f60718293a4b5' });
    const older = parseMachineIdentity(['FreeBSD', '4C4C4544-0042-3510-8052-B4C04F4E4D32', '', '{ sec = 1594339054, usec = 740932 } Thu Jul  9 16:57:34 2020'].join('\n'));
    expect(older.boot).toBe('1594339054.740932');
  });
});

describe('Linux process identity (this machine)', () => {
  it('a command name with spaces and parentheses does not shift the start-time field', () => {
    const stat = '4242 (a) b (c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10';
    expect(parseProcStatStart(stat)).toBe('987654');
  });

  it('a live child has a start time that the remote script reports the same way; a reaped one is gone, not unknown', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid!;
    const here = lookupProcessStart(pid);
    expect('start' in here).toBe(true);
    const remote = parseRemoteProcess(runSync(['sh', '-c', REMOTE_PROCESS_SCRIPT, 'sh', String(pid)]).stdout);
    expect(remote).toEqual({ start: (here as { start: string }).start, comm: 'sleep' });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(lookupProcessStart(pid)).toEqual({ gone: true });
    expect(parseRemoteProcess(runSync(['sh', '-c', REMOTE_PROCESS_SCRIPT, 'sh', String(pid)]).stdout)).toBeNull();
  });
});
