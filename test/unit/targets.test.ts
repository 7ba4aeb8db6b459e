import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { combineExitCodes } from '../../harness/app/common.js';
import { freeLabSubnet } from '../../harness/drivers/net/lab.js';
import { loadInventory, resolveTargetSpecs, type Inventory } from '../../harness/drivers/targets/inventory.js';
import { ownerIsStale } from '../../harness/drivers/targets/lock.js';
import { moduleClosure } from '../../harness/drivers/targets/qemu-image.js';
import { classifySshFailure, parseSshTargetSpec, remoteCommand, shQuote } from '../../harness/drivers/targets/ssh.js';
import { parseVagrantSshConfig } from '../../harness/drivers/targets/vagrant.js';
import { tempDir } from '../helpers/temp.js';

describe('remote command quoting', () => {
  const nasty = ["it's", 'two words', '$HOME', '`id`', 'a"b', 'semi;colon', '*', 'back\\slash', 'new\nline', ''];
  it('survives the remote shell unchanged, whatever the argument holds (dash and bash)', () => {
    for (const shell of ['/bin/sh', '/bin/bash']) {
      // ssh hands the command line to the login shell with -c: do exactly that.
      const line = remoteCommand(['printf', '%s\\0', ...nasty], { sudo: false });
      const out = execFileSync(shell, ['-c', line], { encoding: 'utf8' });
      expect(out.split('\0').slice(0, -1)).toEqual(nasty);
    }
  });
  it('leaves plain words bare and wraps the rest in single quotes', () => {
    expect(shQuote('/usr/sbin/nginx')).toBe('/usr/sbin/nginx');
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
  });
  it('puts sudo and the remote timeout in front', () => {
    expect(remoteCommand(['cat', '/proc/stat'], { sudo: true, timeoutSec: 30 })).toBe('sudo -n timeout -k 5 30 cat /proc/stat');
  });
});

describe('ssh failures', () => {
  it('are told apart from their stderr', () => {
    expect(classifySshFailure('No ED25519 host key is known for [198.18.1.1]:22 and you have requested strict checking.\r\nHost key verification failed.')).toBe('host-key-unknown');
    expect(classifySshFailure('@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @')).toBe('host-key-changed');
    expect(classifySshFailure('ssh: connect to host 127.0.0.1 port 9: Connection refused')).toBe('unreachable');
    expect(classifySshFailure('root@10.0.0.1: Permission denied (publickey).')).toBe('auth');
    expect(classifySshFailure('Connection to 198.18.1.1 closed by remote host.')).toBe('dropped');
    expect(classifySshFailure('client_loop: send disconnect: Broken pipe')).toBe('dropped');
  });
  it('ssh: target specs parse user, host and port', () => {
    expect(parseSshTargetSpec('ssh:root@lab-100g-01:2222')).toMatchObject({ host: 'lab-100g-01', user: 'root', port: 2222 });
    expect(parseSshTargetSpec('ssh:[::1]')).toMatchObject({ host: '::1', user: undefined, port: undefined });
    expect(() => parseSshTargetSpec('ssh:')).toThrow(/expected ssh:\[user@\]host\[:port\]/);
  });
});

describe('vagrant ssh-config', () => {
  it('is parsed from vagrant\'s own output format (quoted IdentityFile)', () => {
    const text = `Host freebsd-head
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/ci/.vagrant.d/boxes/x/private key"
  IdentitiesOnly yes
  LogLevel FATAL
`;
    expect(parseVagrantSshConfig(text)).toEqual({ host: 'freebsd-head', hostName: '127.0.0.1', user: 'vagrant', port: 2222, identityFile: '/home/ci/.vagrant.d/boxes/x/private key' });
  });
});

describe('inventory', () => {
  const inv: Inventory = {
    schemaVersion: 1,
    file: 'lab.yaml',
    targets: [
      { name: 'lab-100g-01', kind: 'ssh', host: '10.0.0.1', groups: ['canary'], tags: ['100g'] },
      { name: 'lab-100g-02', kind: 'ssh', host: '10.0.0.2', groups: ['canary', 'fleet'], tags: ['100g'] },
      { name: 'bsd-vm', kind: 'vagrant', vagrant: { machine: 'freebsd-head' } },
    ],
  };
  it('resolves names, groups, tags and built-in kinds', () => {
    expect(resolveTargetSpecs('lab-100g-01', inv).map((t) => t.name)).toEqual(['lab-100g-01']);
    expect(resolveTargetSpecs('group:canary', inv).map((t) => t.name)).toEqual(['lab-100g-01', 'lab-100g-02']);
    expect(resolveTargetSpecs('tag:100g,bsd-vm', inv).map((t) => t.name)).toEqual(['lab-100g-01', 'lab-100g-02', 'bsd-vm']);
    expect(resolveTargetSpecs('netns:a,local', inv).map((t) => [t.name, t.kind])).toEqual([['a', 'netns'], ['local', 'local']]);
    expect(resolveTargetSpecs('vagrant:bsd-vm', inv)[0].vagrant).toEqual({ machine: 'freebsd-head' });
  });
  it('names what exists when a name is unknown, and refuses duplicates and wrong kinds', () => {
    expect(() => resolveTargetSpecs('lab-9', inv)).toThrow('--target lab-9: unknown target (inventory lab.yaml has: lab-100g-01, lab-100g-02, bsd-vm)');
    expect(() => resolveTargetSpecs('group:nope', inv)).toThrow('--target group:nope: no target in lab.yaml has group nope');
    expect(() => resolveTargetSpecs('group:canary,lab-100g-01', inv)).toThrow('lab-100g-01 named twice');
    expect(() => resolveTargetSpecs('qemu:bsd-vm', inv)).toThrow('inventory target bsd-vm is of kind vagrant');
  });
  it('is schema-checked: every bad key named at once, with the file', async () => {
    const dir = tempDir('hg-inv-');
    const f = path.join(dir, 'inventory.yaml');
    await writeFile(f, 'schemaVersion: 1\ntargets:\n  - name: a\n    kind: telnet\n    prot: 22\n');
    await expect(loadInventory(f)).rejects.toThrow(`${f}: invalid inventory: /targets/0/prot: unknown key; /targets/0/kind: must be one of "local", "ssh", "netns", "vagrant", "qemu"`);
    await writeFile(f, 'schemaVersion: 1\ntargets:\n  - {name: a, kind: ssh}\n');
    await expect(loadInventory(f)).rejects.toThrow(`${f}: target a: an ssh target needs host or address`);
  });
});

describe('lab and lock helpers', () => {
  it('picks a 198.18/198.19 subnet index nobody on the host uses', () => {
    expect(freeLabSubnet('inet 127.0.0.1/8\n198.19.1.2/24 dev x\n198.18.2.0/24 via 198.19.2.1')).toBe(3);
    expect(freeLabSubnet('')).toBe(1);
  });
  it('takes over a lock only from a dead process of this machine (pid, start time, pid namespace; unknown start: alive)', () => {
    const here = (o: Partial<Parameters<typeof ownerIsStale>[1]> = {}) => ({ host: 'me', machine: 'm1', pidns: 'pid:[1]', lookup: () => ({ start: '100' }) as const, pidAlive: () => true, ...o });
    const owner = { host: 'me', pid: 12, runId: 'r', since: 't', machine: 'm1', pidns: 'pid:[1]', start: '100' };
    expect(ownerIsStale(owner, here())).toBe(false);
    expect(ownerIsStale(owner, here({ lookup: () => ({ gone: true }) as const }))).toBe(true);
    // The pid now runs another process (another start time): the owner is gone.
    expect(ownerIsStale(owner, here({ lookup: () => ({ start: '999' }) as const }))).toBe(true);
    // A start time that cannot be read is never taken for dead.
    expect(ownerIsStale(owner, here({ lookup: () => ({ unknown: 'EACCES' }) as const }))).toBe(false);
    // Another pid namespace (a container with the host's hostname) or another controller: not ours to judge.
    expect(ownerIsStale(owner, here({ pidns: 'pid:[2]', lookup: () => ({ gone: true }) as const }))).toBe(false);
    expect(ownerIsStale(owner, here({ machine: 'm2', lookup: () => ({ gone: true }) as const }))).toBe(false);
    // Locks of older versions (host and pid only) keep the old rule.
    const legacy = { host: 'me', pid: 12, runId: 'r', since: 't' };
    expect(ownerIsStale(legacy, here({ pidAlive: () => false }))).toBe(true);
    expect(ownerIsStale(legacy, here({ host: 'other', pidAlive: () => false }))).toBe(false);
  });
  it('loads kernel modules dependencies first', () => {
    const dep = 'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\nkernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\nkernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\nkernel/crypto/ghash-generic.ko: kernel/crypto/gf128mul.ko\nkernel/crypto/gf128mul.ko:\n';
    expect(moduleClosure(dep, ['9pnet_virtio', '9p', 'ghash_generic'])).toEqual(['kernel/net/9p/9pnet.ko', 'kernel/net/9p/9pnet_virtio.ko', 'kernel/fs/netfs/netfs.ko', 'kernel/fs/9p/9p.ko', 'kernel/crypto/gf128mul.ko', 'kernel/crypto/ghash-generic.ko']);
    expect(() => moduleClosure(dep, ['tls'])).toThrow('module tls is not in this kernel');
  });
  it('several targets: a regression outranks infrastructure, which outranks inconclusive', () => {
    expect(combineExitCodes([0, 3, 1, 4])).toBe(1);
    expect(combineExitCodes([0, 4, 3])).toBe(3);
    expect(combineExitCodes([0, 4])).toBe(4);
    expect(combineExitCodes([0, 0])).toBe(0);
  });
});

describe('ssh control sockets (M9)', () => {
  it("live in headgate's private home (HOME/ssh), never under a predictable name in /tmp", async () => {
    const { SshTarget } = await import('../../harness/drivers/targets/ssh.js');
    const { homeDir } = await import('../../harness/lib/home.js');
    const t = new SshTarget({ name: 'lab-01', host: '198.18.0.1', user: 'root' });
    const p = t.sshArgs().find((a) => a.startsWith('ControlPath='))!.slice('ControlPath='.length);
    expect(path.dirname(p)).toBe(path.join(homeDir(), 'ssh'));
    expect(p.startsWith('/tmp/')).toBe(false);
  });
});
