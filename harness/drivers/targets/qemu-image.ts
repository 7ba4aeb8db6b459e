import { existsSync } from 'node:fs';
import { chmod, copyFile, lchown, lstat, mkdir, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../../lib/exec.js';
import { infraError } from '../../model/errors.js';
import { writeJsonAtomic } from '../../lib/atomic.js';

/** A bootable Linux kernel plus the initramfs the harness built for it. */
export interface KernelImage {
  kernel: string;
  initrd: string;
  release: string;
  /** INITRAMFS_LAYOUT of the initramfs built here (absent: an older harness built it). */
  layout?: number;
}

/**
 * Modules the guest needs before its root exists (virtio, 9p) and the features suites test: kTLS
 * with the AEAD ciphers it asks the crypto API for (without them TLS_TX fails with ENOENT: the
 * guest cannot autoload modules, its root has no /lib/modules for its kernel), and netem.
 */
export const GUEST_MODULES = [
  'virtio_pci', 'virtio_net', '9pnet_virtio', '9p',
  'ctr', 'gcm', 'ghash_generic', 'seqiv', 'aesni_intel', 'ghash_clmulni_intel', 'chacha_generic', 'poly1305_generic', 'chacha20poly1305',
  'tls', 'sch_netem',
];

/** A build step: a missing program is a failed step (exit 127), reported by the caller. */
const step = (argv: string[], cwd?: string) => runCommand(argv, { cwd, timeoutMs: 600_000 }).catch((e: Error) => ({ code: 127, stdout: '', stderr: e.message }));

/** The modules.dep closure of the wanted modules, dependencies first (paths relative to lib/modules/REL). */
export function moduleClosure(modulesDep: string, wanted: string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) deps.set(m[1], m[2].split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((k) => [path.basename(k).replace(/\.ko(\.[gx]z|\.zst)?$/, '').replace(/-/g, '_'), k]));
  const out: string[] = [];
  const visit = (k: string) => {
    if (out.includes(k)) return;
    for (const d of deps.get(k) ?? []) visit(d);
    out.push(k);
  };
  for (const w of wanted) {
    const k = byName.get(w.replace(/-/g, '_'));
    if (!k) throw infraError(`kernel image: module ${w} is not in this kernel's modules.dep`);
    visit(k);
  }
  return out;
}

/**
 * Version of the initramfs's /init: a cached image built by an older harness (whose /init mounted
 * this machine's whole root) is rebuilt, not booted.
 */
export const INITRAMFS_LAYOUT = 2;

/**
 * The initramfs's /init (busybox): loads the modules, makes the guest's root a tmpfs, mounts the
 * harness's share (keys, sshd config, scripts) on /run/hg, runs the share's guest-root.sh (which
 * mounts the few host directories the guest may see: guestRootScript), then switches root and
 * runs the guest init from the share.
 */
export function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "headgate-initramfs: loading modules"
${modules.map((m) => `insmod /lib/modules/${m} || echo "headgate-initramfs: insmod ${m} failed"`).join('\n')}
mkdir -p /newroot
mount -t tmpfs -o mode=0755 root /newroot || { echo "headgate-initramfs: cannot mount the root tmpfs"; poweroff -f; }
mkdir -p /newroot/run/hg
mount -t 9p -o trans=virtio,version=9p2000.L,ro hg /newroot/run/hg || { echo "headgate-initramfs: cannot mount the harness share"; poweroff -f; }
test -r /newroot/run/hg/guest-root.sh || { echo "headgate-initramfs: the harness share has no guest-root.sh"; poweroff -f; }
. /newroot/run/hg/guest-root.sh
# Mounted here: the guest's util-linux mount needs /proc before it can mount anything.
mount -t proc proc /newroot/proc || echo "headgate-initramfs: proc mount failed"
mount -t sysfs sys /newroot/sys || echo "headgate-initramfs: sysfs mount failed"
mount -t devtmpfs dev /newroot/dev || echo "headgate-initramfs: devtmpfs mount failed"
umount /proc /sys /dev
exec switch_root /newroot /bin/sh /run/hg/guest-init.sh
`;
}

/** The guest's init (runs on the host's /bin/sh inside the guest): writable dirs, network, sshd. */
export function guestInitScript(): string {
  return `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs shm /dev/shm
for d in /tmp /var/tmp /var/log /var/lib/nginx /root /var/cache; do mount -t tmpfs -o mode=1777 tmp "$d" 2>/dev/null; done
mkdir -p /run/sshd /var/log/nginx
hostname headgate-guest
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
echo "headgate-guest: $(uname -sr) up; kTLS: $(test -r /proc/net/tls_stat && echo /proc/net/tls_stat present || echo absent)"
/usr/sbin/sshd -f /run/hg/sshd_config -E /var/log/sshd.log
echo "headgate-guest: sshd started"
while :; do sleep 3600; done
`;
}

/** One directory of this machine the guest mounts read-only over 9p (a QEMU -virtfs export). */
export interface GuestShare {
  /** 9p mount tag. */
  tag: string;
  hostPath: string;
  guestPath: string;
}

/** The guest's root: a tmpfs holding these shares and symlinks, and nothing else of this machine. */
export interface GuestRoot {
  shares: GuestShare[];
  links: Array<{ path: string; target: string }>;
}

/**
 * Top-level directories of this machine the guest's userspace runs from (the host's own sshd,
 * nginx, OpenSSL and tools): exported read-only when they are directories, recreated in the guest
 * when they are symlinks (merged /usr). Everything else stays invisible to the guest: /root,
 * /home, /var, /srv, /opt, /mnt, /boot, and the real /etc (the guest gets a copy without its
 * secrets: stageGuestEtc).
 */
export const GUEST_HOST_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'] as const;

/** A top-level entry of this machine's root: a directory, or a symlink with its target. */
export interface HostRootEntry {
  name: string;
  symlink?: string;
}

/** Reads which of GUEST_HOST_DIRS exist under root, and which of them are symlinks. */
export async function hostRootEntries(root = '/'): Promise<HostRootEntry[]> {
  const out: HostRootEntry[] = [];
  for (const name of GUEST_HOST_DIRS) {
    const p = path.join(root, name);
    const st = await lstat(p).catch(() => null);
    if (st?.isSymbolicLink()) out.push({ name, symlink: await readlink(p) });
    else if (st?.isDirectory()) out.push({ name });
  }
  return out;
}

/** What the guest sees of this machine (pure): the host directories of entries, and the /etc copy. */
export function guestRootPlan(entries: HostRootEntry[], root: string, etcCopy: string): GuestRoot {
  const shares: GuestShare[] = [];
  const links: GuestRoot['links'] = [];
  for (const e of entries) {
    if (!(GUEST_HOST_DIRS as readonly string[]).includes(e.name)) throw infraError(`qemu: ${e.name} is not a directory the guest may see`);
    if (e.symlink !== undefined) links.push({ path: `/${e.name}`, target: e.symlink });
    else shares.push({ tag: `hg_${e.name}`, hostPath: path.join(root, e.name), guestPath: `/${e.name}` });
  }
  shares.push({ tag: 'hg_etc', hostPath: etcCopy, guestPath: '/etc' });
  return { shares, links };
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * guest-root.sh: sourced by the initramfs's /init (busybox) with the root tmpfs on /newroot. Mounts
 * the plan's shares read-only, recreates the symlinks, and makes the directories the guest writes
 * (on the tmpfs: nothing it writes reaches this machine).
 */
export function guestRootScript(plan: GuestRoot): string {
  const lines = [
    '# Written by headgate for one boot: the only parts of the host this guest sees.',
    'hg_share() { mkdir -p "/newroot$2" && mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 "$1" "/newroot$2" || { echo "headgate-initramfs: cannot mount $1 on $2"; poweroff -f; }; }',
    ...plan.shares.map((s) => `hg_share ${shq(s.tag)} ${shq(s.guestPath)}`),
    ...plan.links.map((l) => `ln -s ${shq(l.target)} ${shq(`/newroot${l.path}`)}`),
    'mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/root /newroot/var/tmp /newroot/var/log /newroot/var/cache /newroot/var/lib/nginx',
    'chmod 1777 /newroot/tmp /newroot/var/tmp; chmod 0700 /newroot/root',
    'ln -s /run /newroot/var/run; ln -s /run/lock /newroot/var/lock',
    '',
  ];
  return lines.join('\n');
}

/** Paths under /etc (relative) the guest never gets, whatever their mode. */
const ETC_SECRETS = [/^shadow-$/, /^gshadow-?$/, /^ssh\/ssh_host_[^/]*_key$/, /^ssl\/private$/, /^security\/opasswd$/, /^sudoers(\.d)?$/];

/**
 * /etc/shadow without its password hashes: a locked account ("!...") stays "!", any other becomes
 * "*" (no password can log in). sshd needs the entry: without shadow it reads the "x" of passwd
 * and refuses root as a locked account.
 */
export function redactShadow(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const f = line.split(':');
      if (f.length < 2) return line;
      f[1] = f[1].startsWith('!') ? '!' : '*';
      return f.join(':');
    })
    .join('\n');
}

/**
 * Copies this machine's /etc (src) into dest for the guest, without its secrets: what ETC_SECRETS
 * names (gshadow, shadow-, ssh host keys, ssl/private), anything a non-root user could not read
 * (files without o+r, directories without o+rx), and any file holding a PEM private key; shadow
 * is written without its password hashes (redactShadow). Symlinks are kept as they are (they
 * resolve inside the guest, where only the shared directories exist); modes and owners are kept.
 * Returns the relative paths left out, and those redacted.
 */
export async function stageGuestEtc(src: string, dest: string): Promise<{ omitted: string[]; redacted: string[] }> {
  const omitted: string[] = [];
  const redacted: string[] = [];
  const asRoot = process.getuid?.() === 0;
  const walk = async (rel: string): Promise<void> => {
    const from = path.join(src, rel);
    const to = path.join(dest, rel);
    const st = await lstat(from);
    const own = async () => {
      if (asRoot) await lchown(to, st.uid, st.gid);
      if (!st.isSymbolicLink()) await chmod(to, st.mode & 0o7777);
    };
    if (rel && ETC_SECRETS.some((r) => r.test(rel))) return void omitted.push(rel);
    if (rel === 'shadow' && st.isFile()) {
      await writeFile(to, redactShadow(await readFile(from, 'utf8')), { mode: 0o600 });
      redacted.push(rel);
      return own();
    }
    if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
      return own();
    }
    if (st.isDirectory()) {
      if (rel && (st.mode & 0o005) !== 0o005) return void omitted.push(`${rel}/`);
      await mkdir(to, { mode: 0o700 });
      await Promise.all((await readdir(from)).map((name) => walk(path.join(rel, name))));
      return own();
    }
    if (!st.isFile() || (st.mode & 0o004) === 0) return void omitted.push(rel);
    const data = await readFile(from).catch(() => null);
    if (!data || /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(data.toString('latin1'))) return void omitted.push(rel);
    await writeFile(to, data, { mode: 0o600 });
    return own();
  };
  await walk('');
  return { omitted: omitted.sort(), redacted };
}

/**
 * Debian's stock kernel (linux-image-amd64 from the configured apt sources) plus an initramfs:
 * busybox, the guest modules and /init. Cached in dir; built once (about 10 s and a 70 MB download).
 */
export async function debianKernelImage(dir: string, log: (l: string) => void): Promise<KernelImage> {
  const ready = path.join(dir, 'image.json');
  if (existsSync(ready)) {
    const cached = await readFile(ready, 'utf8').then((t) => JSON.parse(t) as KernelImage, () => null);
    if (cached?.layout === INITRAMFS_LAYOUT) return cached;
    log(
      cached
        ? `qemu: the initramfs cached in ${dir} is of an older layout (its guest saw this machine's whole root): rebuilding it`
        : `qemu: ${ready} is unreadable (a crash while an older headgate wrote it?): rebuilding the image`,
    );
  }
  await mkdir(dir, { recursive: true });
  const dep = await step(['apt-cache', 'depends', 'linux-image-amd64']);
  const pkg = /Depends:\s+(linux-image-\S+)/.exec(dep.stdout)?.[1];
  if (!pkg) throw infraError('qemu: cannot resolve linux-image-amd64 with apt-cache (is apt configured?)');
  const debIn = async () => (await readdir(dir)).find((f) => f.startsWith(pkg) && f.endsWith('.deb'));
  let deb = await debIn();
  if (!deb) {
    log(`qemu: downloading ${pkg} (Debian's stock kernel)`);
    const dl = await step(['apt-get', 'download', pkg], dir);
    deb = await debIn();
    if (!deb) throw infraError(`qemu: apt-get download ${pkg} failed: ${dl.stderr.trim().split('\n').pop()}`);
  }
  const x = path.join(dir, 'pkg');
  await rm(x, { recursive: true, force: true });
  const ex = await step(['dpkg-deb', '-x', path.join(dir, deb), x]);
  if (ex.code !== 0) throw infraError(`qemu: dpkg-deb -x ${deb} failed: ${ex.stderr.trim()}`);
  const release = (await readdir(path.join(x, 'lib', 'modules')))[0];
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw infraError('qemu: /bin/busybox not found', 'apt-get install busybox-static');
  const dm = await step([busybox, 'depmod', '-b', x, release]);
  if (dm.code !== 0) throw infraError(`qemu: depmod failed: ${dm.stderr.trim()}`);
  const mods = moduleClosure(await readFile(path.join(x, 'lib', 'modules', release, 'modules.dep'), 'utf8'), GUEST_MODULES);

  const root = path.join(dir, 'initramfs');
  await rm(root, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot', 'lib/modules']) await mkdir(path.join(root, d), { recursive: true });
  await copyFile(busybox, path.join(root, 'bin', 'busybox'));
  await chmod(path.join(root, 'bin', 'busybox'), 0o755);
  const flat = mods.map((m) => path.basename(m));
  for (const m of mods) await copyFile(path.join(x, 'lib', 'modules', release, m), path.join(root, 'lib', 'modules', path.basename(m)));
  await writeFile(path.join(root, 'init'), initScript(flat), { mode: 0o755 });
  const initrd = path.join(dir, 'initramfs.cpio.gz');
  const cpio = await step(['sh', '-c', 'find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$0"', initrd], root);
  if (cpio.code !== 0) throw infraError(`qemu: building the initramfs failed: ${cpio.stderr.trim()}`);
  const image: KernelImage = { kernel: path.join(x, 'boot', `vmlinuz-${release}`), initrd, release, layout: INITRAMFS_LAYOUT };
  // The marker that the cache is whole: written last and atomically (a crash leaves none, or the old one).
  await writeJsonAtomic(ready, image);
  log(`qemu: kernel ${release} and initramfs (${mods.length} modules) ready in ${dir}`);
  return image;
}
