import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killProcessGroup } from '../../harness/lib/exec.js';
import { loadInventory } from '../../harness/drivers/targets/inventory.js';
import {
  guestRootPlan,
  guestRootScript,
  hostRootEntries,
  stageGuestEtc,
  type GuestShare,
} from '../../harness/drivers/targets/qemu-image.js';
import {
  launchQemu,
  openQemuTarget,
  qemuArgs,
  type QemuLaunch,
  type QemuLaunched,
} from '../../harness/drivers/targets/qemu.js';

// No real QEMU here: the argv is checked as data, and the KVM-to-TCG fallback runs against a
// stand-in binary (a shell script) that hangs silently under KVM and "boots" under TCG.

let work: string;
const stateBefore = process.env.HEADGATE_STATE_DIR;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'hg-qemu-unit-'));
  // Started QEMUs are journaled: in this test's directory, not in this machine's /var/lib/headgate.
  process.env.HEADGATE_STATE_DIR = path.join(work, 'state');
});
afterAll(async () => {
  // Let the journal's "done" writes for the last stand-ins finish before their directory goes.
  await new Promise((r) => setTimeout(r, 300));
  if (stateBefore === undefined) delete process.env.HEADGATE_STATE_DIR;
  else process.env.HEADGATE_STATE_DIR = stateBefore;
  // Whatever a failed test left running: every stand-in wrote its pid to a starts file.
  for (const f of (await readdir(work).catch(() => [])).filter((n) => n.startsWith('starts-'))) {
    for (const line of (await readFile(path.join(work, f), 'utf8')).trim().split('\n'))
      killProcessGroup(Number(line.split(' ')[0]), 'SIGKILL');
  }
  await rm(work, { recursive: true, force: true });
});

/** Whether a process (or, with a negative pid, any member of a process group) exists. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A stand-in qemu-system-x86_64: under KVM it stays silent, exits, or boots; under TCG it boots. */
async function standin(
  kvm: 'silent' | 'exit' | 'boots',
): Promise<{ bin: string; starts: () => Promise<Array<{ pid: number; accel: string }>> }> {
  const id = Math.random().toString(36).slice(2);
  const bin = path.join(work, `qemu-${id}`);
  const starts = path.join(work, `starts-${id}`);
  await writeFile(
    bin,
    `#!/bin/sh
accel=; console=
while [ $# -gt 0 ]; do
  case "$1" in
    -accel) accel=$2; shift ;;
    -serial) case "$2" in file:*) console=\${2#file:}; : > "$console" ;; esac; shift ;;
    -chardev) console=\${2#*path=}; console=\${console%%,*}; shift ;;
  esac
  shift
done
echo "$$ $accel" >> '${starts}'
if [ "$accel" = kvm ]; then
  case ${kvm} in
    silent) exec sleep 300 ;;
    exit) echo "qemu-system-x86_64: failed to initialize kvm: Device or resource busy" >&2; exit 1 ;;
  esac
fi
printf 'Linux version 6.1.0-standin (%s) #1 SMP\\r\\n' "$accel" >> "$console"
exec sleep 300
`,
    { mode: 0o755 },
  );
  return {
    bin,
    starts: async () =>
      existsSync(starts)
        ? (await readFile(starts, 'utf8'))
            .trim()
            .split('\n')
            .map((l) => ({ pid: Number(l.split(' ')[0]), accel: l.split(' ')[1] }))
        : [],
  };
}

async function until(what: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(l: QemuLaunched): Promise<void> {
  if (l.proc.exitCode !== null || l.proc.signalCode !== null) return;
  const exited = new Promise((r) => l.proc.once('exit', r));
  killProcessGroup(l.proc.pid, 'SIGKILL');
  await exited;
}

function launch(bin: string, consoleLog: string, o: Partial<QemuLaunch> = {}): Promise<QemuLaunched> {
  return launchQemu({
    host: 'guest',
    bin,
    accel: 'auto',
    kvmSilenceSec: 1,
    bootTimeoutSec: 60,
    consoleLog,
    consoleWatched: true,
    shape: '1 vCPU, 1024 MiB',
    args: (accel, appendConsole) =>
      qemuArgs({
        accel,
        memoryMiB: 1024,
        cpus: 1,
        kernel: '/k',
        append: 'console=ttyS0',
        consoleLog,
        appendConsole,
        monitorSock: path.join(work, 'mon'),
        sshPort: 2222,
        shares: [],
      }),
    kvmUsable: async () => true,
    log: () => {},
    ...o,
  });
}

describe('QEMU command line: what the guest may reach', () => {
  const etc = '/tmp/hg-qemu-1-guest/etc';
  const hg = '/tmp/hg-qemu-1-guest/share';
  const argsFor = (shares: GuestShare[], accel: 'kvm' | 'tcg' = 'kvm', appendConsole = false) =>
    qemuArgs({
      accel,
      memoryMiB: 1024,
      cpus: 2,
      kernel: '/k/vmlinuz',
      initrd: '/k/initrd',
      append: 'console=ttyS0',
      consoleLog: '/s/console.log',
      appendConsole,
      monitorSock: '/s/monitor.sock',
      sshPort: 40022,
      shares,
    });
  const values = (args: string[], flag: string) => args.flatMap((a, i) => (args[i - 1] === flag ? [a] : []));
  const exportedPaths = (args: string[]) =>
    values(args, '-virtfs').map((v) => /(?:^|,)path=((?:[^,]|,,)*)/.exec(v)![1].replace(/,,/g, ','));

  it('exports only /usr-like directories, an /etc copy and the harness share, all read-only', async () => {
    const plan = guestRootPlan(
      [
        { name: 'usr' },
        { name: 'bin', symlink: 'usr/bin' },
        { name: 'sbin', symlink: 'usr/sbin' },
        { name: 'lib', symlink: 'usr/lib' },
        { name: 'lib64' },
      ],
      '/',
      etc,
    );
    const args = argsFor([...plan.shares, { tag: 'hg', hostPath: hg, guestPath: '/run/hg' }]);
    expect(exportedPaths(args).sort()).toEqual([etc, hg, '/lib64', '/usr'].sort());
    for (const v of values(args, '-virtfs')) expect(v).toMatch(/,readonly=on(,|$)/);
    expect(values(args, '-virtfs').map((v) => /mount_tag=([^,]+)/.exec(v)![1])).toEqual([
      'hg_usr',
      'hg_lib64',
      'hg_etc',
      'hg',
    ]);
    expect(plan.links).toEqual([
      { path: '/bin', target: 'usr/bin' },
      { path: '/sbin', target: 'usr/sbin' },
      { path: '/lib', target: 'usr/lib' },
    ]);
    expect(() => guestRootPlan([{ name: 'root' }], '/', etc)).toThrow('root is not a directory the guest may see');
  });

  it("on this machine's own layout, neither /, /root, /home, /var nor the real /etc is exported", async () => {
    const plan = guestRootPlan(await hostRootEntries('/'), '/', etc);
    const paths = exportedPaths(argsFor([...plan.shares, { tag: 'hg', hostPath: hg, guestPath: '/run/hg' }]));
    expect(paths).toContain('/usr');
    for (const secret of [
      '/root',
      '/home',
      '/etc',
      '/etc/shadow',
      '/etc/gshadow',
      '/etc/ssh/ssh_host_ed25519_key',
      '/var/lib',
      '/root/.ssh/id_ed25519',
    ]) {
      for (const p of paths)
        expect(secret === p || secret.startsWith(`${p}/`), `${p} would expose ${secret}`).toBe(false);
    }
  });

  it('user networking is restricted and forwards only the ssh port', () => {
    const args = argsFor([]);
    expect(values(args, '-netdev')).toEqual(['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22']);
    expect(args.filter((a) => /^-(net|nic|netdev)$/.test(a))).toEqual(['-netdev']);
    expect(args.join(' ')).not.toMatch(/guestfwd|smb=|tftp=|bootfile=/);
    expect(values(args, '-device')).toEqual(['virtio-net-pci,netdev=net0']);
  });

  it('the accelerator sets the CPU model, and the TCG retry appends to the console file', () => {
    expect(values(argsFor([], 'kvm'), '-cpu')).toEqual(['host']);
    const tcg = argsFor([], 'tcg', true);
    expect(values(tcg, '-accel')).toEqual(['tcg']);
    expect(values(tcg, '-cpu')).toEqual(['max']);
    expect(values(tcg, '-chardev')).toEqual(['file,id=hgconsole,path=/s/console.log,append=on']);
    expect(values(tcg, '-serial')).toEqual(['chardev:hgconsole']);
    expect(values(argsFor([]), '-serial')).toEqual(['file:/s/console.log']);
  });

  it('guest-root.sh mounts the shares and recreates the symlinks, quoted', () => {
    const sh = guestRootScript({
      shares: [{ tag: 'hg_usr', hostPath: '/usr', guestPath: '/usr' }],
      links: [{ path: '/bin', target: "usr/b'in" }],
    });
    expect(sh).toContain("hg_share 'hg_usr' '/usr'");
    expect(sh).toContain(`ln -s 'usr/b'\\''in' '/newroot/bin'`);
    expect(sh).toMatch(/mkdir -p .*\/newroot\/var\/lib\/nginx/);
  });
});

describe("the guest's /etc: a copy without secrets", () => {
  it('leaves out gshadow, ssh host keys, ssl/private, root-only files and PEM private keys; shadow loses its hashes', async () => {
    const src = path.join(work, 'etc-src');
    const put = async (rel: string, text: string, mode: number) => {
      await mkdir(path.dirname(path.join(src, rel)), { recursive: true });
      await writeFile(path.join(src, rel), text);
      await chmod(path.join(src, rel), mode);
    };
    await put('passwd', 'root:x:0:0:root:/root:/bin/bash\n', 0o644);
    await put('shadow', 'root:$6$secret:19000::::::\ndaemon:!$6$x:19000:0:99999:7:::\nnobody:*:19000::::::\n', 0o640);
    await put('shadow-', 'root:$6$old:19000::::::\n', 0o640);
    await put('gshadow', 'root:*::\n', 0o640);
    await put('ssh/sshd_config', 'Port 22\n', 0o644);
    await put('ssh/ssh_host_ed25519_key', 'key\n', 0o600);
    await put('ssh/ssh_host_ed25519_key.pub', 'ssh-ed25519 AAAA host\n', 0o644);
    await put('ssl/private/site.key', 'key\n', 0o600);
    await chmod(path.join(src, 'ssl/private'), 0o700);
    await put('app/leaked.pem', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n', 0o644);
    await put('app/cert.pem', '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n', 0o644);
    await put('app/token', 'secret\n', 0o600);
    await put('sudoers.d/ops', 'ops ALL=(ALL) ALL\n', 0o440);
    await symlink('/usr/share/zoneinfo/UTC', path.join(src, 'localtime'));
    const dest = path.join(work, 'etc-copy');
    const { omitted, redacted } = await stageGuestEtc(src, dest);
    expect(redacted).toEqual(['shadow']);
    expect(await readFile(path.join(dest, 'shadow'), 'utf8')).toBe(
      'root:*:19000::::::\ndaemon:!:19000:0:99999:7:::\nnobody:*:19000::::::\n',
    );
    expect((await lstat(path.join(dest, 'shadow'))).mode & 0o777).toBe(0o640);
    expect(omitted).toEqual(
      [
        'app/leaked.pem',
        'app/token',
        'gshadow',
        'shadow-',
        'ssh/ssh_host_ed25519_key',
        'ssl/private',
        'sudoers.d',
      ].sort(),
    );
    const files: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      for (const n of await readdir(path.join(dest, rel))) {
        const r = path.join(rel, n);
        files.push(r);
        if ((await lstat(path.join(dest, r))).isDirectory()) await walk(r);
      }
    };
    await walk('');
    expect(files.sort()).toEqual(
      [
        'app',
        'app/cert.pem',
        'localtime',
        'passwd',
        'shadow',
        'ssh',
        'ssh/ssh_host_ed25519_key.pub',
        'ssh/sshd_config',
        'ssl',
      ].sort(),
    );
    expect(await readlink(path.join(dest, 'localtime'))).toBe('/usr/share/zoneinfo/UTC');
    expect((await lstat(path.join(dest, 'passwd'))).mode & 0o777).toBe(0o644);
  });

  it("this machine's /etc copied keeps no password hash, no ssh host key and no private key", async () => {
    const dest = path.join(work, 'etc-real');
    await stageGuestEtc('/etc', dest);
    expect(existsSync(path.join(dest, 'passwd'))).toBe(true);
    if (existsSync('/etc/shadow')) {
      const fields = (await readFile(path.join(dest, 'shadow'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(':')[1]);
      expect(fields.length).toBeGreaterThan(0);
      expect(fields.filter((f) => f !== '*' && f !== '!')).toEqual([]);
    }
    for (const f of ['gshadow', 'shadow-', 'gshadow-', 'ssl/private'])
      expect(existsSync(path.join(dest, f)), f).toBe(false);
    if (existsSync(path.join(dest, 'ssh')))
      expect((await readdir(path.join(dest, 'ssh'))).filter((n) => /^ssh_host_.*_key$/.test(n))).toEqual([]);
    const bad: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const n of await readdir(dir)) {
        const p = path.join(dir, n);
        const st = await lstat(p);
        if (st.isDirectory()) await walk(p);
        else if (st.isFile() && /PRIVATE KEY-----/.test(await readFile(p, 'latin1'))) bad.push(p);
      }
    };
    await walk(dest);
    expect(bad).toEqual([]);
    await rm(dest, { recursive: true, force: true });
  });
});

describe('accel auto: a KVM guest that stays silent is booted again under TCG', () => {
  it('kills the silent KVM QEMU, boots under TCG, and records why in the notes and the console', async () => {
    const q = await standin('silent');
    const consoleLog = path.join(work, 'console-silent.log');
    const logged: string[] = [];
    const t0 = Date.now();
    const l = await launch(q.bin, consoleLog, { log: (line) => logged.push(line) });
    try {
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      expect(l.accel).toBe('tcg');
      expect(l.fallback).toBe('the guest printed nothing on its console for 1 s under KVM (qemu.kvmSilenceSec)');
      expect(l.notes).toEqual([
        'booted under QEMU software emulation (TCG) because KVM did not work here: the guest printed nothing on its console for 1 s under KVM (qemu.kvmSilenceSec); timings are not performance numbers',
      ]);
      expect(logged.join('\n')).toMatch(
        /qemu: guest: the guest printed nothing .* booting again under software emulation \(TCG\)/,
      );
      const starts = await q.starts();
      await until(
        async () => (await q.starts()).length === 2 && /Linux version/.test(await readFile(consoleLog, 'utf8')),
      );
      const [kvm, tcg] = await q.starts();
      expect([kvm.accel, tcg.accel]).toEqual(['kvm', 'tcg']);
      expect(starts[0].pid).toBe(kvm.pid);
      expect(tcg.pid).toBe(l.proc.pid);
      // The silent QEMU and its whole process group are gone; the TCG one runs.
      expect(alive(kvm.pid)).toBe(false);
      expect(alive(-kvm.pid)).toBe(false);
      expect(alive(tcg.pid)).toBe(true);
      // The reason is in the console log, before the TCG boot's output (appended, not truncated).
      const text = await readFile(consoleLog, 'utf8');
      expect(text).toMatch(
        /^headgate: the guest printed nothing on its console for 1 s under KVM \(qemu\.kvmSilenceSec\); that QEMU was killed; booting again under software emulation \(TCG\)\nLinux version 6\.1\.0-standin \(tcg\)/,
      );
    } finally {
      await stop(l);
    }
  });

  it('falls back too when QEMU ends under KVM before the guest printed anything', async () => {
    const q = await standin('exit');
    const l = await launch(q.bin, path.join(work, 'console-exit.log'));
    try {
      expect(l.accel).toBe('tcg');
      expect(l.fallback).toBe(
        'QEMU ended (1) under KVM before the guest printed anything: qemu-system-x86_64: failed to initialize kvm: Device or resource busy',
      );
    } finally {
      await stop(l);
    }
  });

  it('keeps a KVM guest that prints', async () => {
    const q = await standin('boots');
    const consoleLog = path.join(work, 'console-boots.log');
    const l = await launch(q.bin, consoleLog, { kvmSilenceSec: 2 });
    try {
      expect(l.accel).toBe('kvm');
      expect(l.fallback).toBeUndefined();
      expect(l.notes).toEqual(['booted under QEMU with KVM (1 vCPU, 1024 MiB)']);
      await until(async () => /Linux version/.test(await readFile(consoleLog, 'utf8').catch(() => '')));
      expect((await q.starts()).map((s) => s.accel)).toEqual(['kvm']);
      expect(await readFile(consoleLog, 'utf8')).toMatch(/^Linux version 6\.1\.0-standin \(kvm\)/);
    } finally {
      await stop(l);
    }
  });

  it('accel kvm never falls back (a silent guest fails by the boot deadline, as before); accel tcg never tries KVM', async () => {
    const q = await standin('silent');
    const kvm = await launch(q.bin, path.join(work, 'console-kvm.log'), { accel: 'kvm' });
    try {
      expect(kvm.accel).toBe('kvm');
      await until(async () => (await q.starts()).length === 1);
      await new Promise((r) => setTimeout(r, 1500));
      expect((await q.starts()).map((s) => s.accel)).toEqual(['kvm']);
      expect(alive(kvm.proc.pid!)).toBe(true);
    } finally {
      await stop(kvm);
    }
    let asked = 0;
    const tcg = await launch(q.bin, path.join(work, 'console-tcg.log'), {
      accel: 'tcg',
      kvmUsable: async () => (asked++, true),
    });
    try {
      expect(tcg.accel).toBe('tcg');
      expect(asked).toBe(0);
      await until(async () => (await q.starts()).length === 2);
      expect((await q.starts()).map((s) => s.accel)).toEqual(['kvm', 'tcg']);
      expect(tcg.notes[0]).toMatch(/software emulation \(TCG, qemu\.accel tcg\): timings are not performance numbers/);
    } finally {
      await stop(tcg);
    }
  });

  it('without a usable /dev/kvm: auto runs TCG, kvm is an infrastructure error naming the host', async () => {
    const q = await standin('boots');
    const l = await launch(q.bin, path.join(work, 'console-nokvm.log'), { kvmUsable: async () => false });
    try {
      expect(l.accel).toBe('tcg');
      await until(async () => (await q.starts()).length === 1);
      expect(l.notes).toEqual([
        'booted under QEMU software emulation (TCG, no usable /dev/kvm): timings are not performance numbers',
      ]);
    } finally {
      await stop(l);
    }
    await expect(
      launch(q.bin, path.join(work, 'console-nokvm2.log'), { accel: 'kvm', kvmUsable: async () => false }),
    ).rejects.toMatchObject({
      kind: 'infra',
      message: expect.stringMatching(/^qemu guest: qemu\.accel is kvm, but \/dev\/kvm is missing/),
    });
    expect((await q.starts()).map((s) => s.accel)).toEqual(['tcg']);
  });

  it('openQemuTarget: the fallback is in the boot error, both QEMUs are gone and the state directory removed', async () => {
    const q = await standin('silent');
    const kernel = path.join(work, 'vmlinuz');
    const initrd = path.join(work, 'initrd');
    await writeFile(kernel, '');
    await writeFile(initrd, '');
    const name = `standin${Math.random().toString(36).slice(2, 8)}`;
    const err = await openQemuTarget(
      { name, kind: 'qemu', qemu: { kernel, initrd, bootTimeoutSec: 2, kvmSilenceSec: 1 } },
      () => {},
      { qemuBin: q.bin, kvmUsable: async () => true },
    ).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      new RegExp(
        `^qemu ${name}: the guest did not come up within 2 s under TCG \\(after KVM: the guest printed nothing on its console for 1 s under KVM \\(qemu\\.kvmSilenceSec\\)\\); console: headgate: the guest printed nothing .*\\| Linux version 6\\.1\\.0-standin \\(tcg\\)`,
      ),
    );
    const starts = await q.starts();
    expect(starts.map((s) => s.accel)).toEqual(['kvm', 'tcg']);
    await until(async () => starts.every((s) => !alive(s.pid)));
    expect(existsSync(path.join(os.tmpdir(), `hg-qemu-${process.pid}-${name}`))).toBe(false);
  });
});

describe('inventory: qemu.accel and qemu.kvmSilenceSec', () => {
  it('are checked by the schema', async () => {
    const file = path.join(work, 'inventory.json');
    const write = (qemu: object) =>
      writeFile(file, JSON.stringify({ schemaVersion: 1, targets: [{ name: 'guest', kind: 'qemu', qemu }] }));
    await write({ accel: 'tcg', kvmSilenceSec: 5 });
    expect((await loadInventory(file)).targets[0].qemu).toEqual({ accel: 'tcg', kvmSilenceSec: 5 });
    await write({ accel: 'fast' });
    await expect(loadInventory(file)).rejects.toThrow('/targets/0/qemu/accel');
    await write({ kvmSilenceSec: 0 });
    await expect(loadInventory(file)).rejects.toThrow('/targets/0/qemu/kvmSilenceSec');
  });
});
