import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pidReporting, remoteCommand, takeRemotePid } from '../../harness/drivers/targets/ssh.js';

describe('remote commands stop on Ctrl-C', () => {
  it('a pid-reporting command tells its pid first, and that pid is the command (a kill stops it)', async () => {
    // The string is what sshd hands to the login shell; sh -c plays that shell here.
    const cmd = pidReporting(remoteCommand(['sleep', '30'], { sudo: false, timeoutSec: 60 }));
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const pid = await new Promise<number>((resolve) => {
      child.stderr!.on('data', (d) => {
        err += d;
        const p = takeRemotePid(err).pid;
        if (p) resolve(p);
      });
    });
    const exited = new Promise<number | string>((r) => child.on('exit', (c, s) => r(c ?? s ?? -1)));
    process.kill(pid, 'SIGTERM');
    // timeout(1) passes the TERM on to sleep and ends with its status (128 + 15): the command ended on the "target".
    expect(await exited).toBe(143);
    expect(takeRemotePid(`headgate-remote-pid ${pid}\nfio: error\n`)).toEqual({ pid, stderr: 'fio: error\n' });
    expect(takeRemotePid('plain stderr')).toEqual({ pid: null, stderr: 'plain stderr' });
  });
});
