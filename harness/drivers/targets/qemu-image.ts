import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { $ } from 'zx';
import { infraError } from '../../model/errors.js';

/** A bootable Linux kernel plus the initramfs the harness built for it. */
export interface KernelImage {
  kernel: string;
  initrd: string;
  release: string;
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

const sh = $({ quiet: true, nothrow: true });

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
 * The initramfs's /init (busybox): loads the modules, mounts this machine's root read-only over
 * 9p as the guest's root, the harness's share (keys, sshd config) on /run/hg, then switches root
 * and runs the guest init from the share.
 */
export function initScript(modules: string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "headgate-initramfs: loading modules"
${modules.map((m) => `insmod /lib/modules/${m} || echo "headgate-initramfs: insmod ${m} failed"`).join('\n')}
mkdir -p /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /newroot || { echo "headgate-initramfs: cannot mount the host root"; poweroff -f; }
mount -t tmpfs -o mode=0755 run /newroot/run
mkdir -p /newroot/run/hg
mount -t 9p -o trans=virtio,version=9p2000.L,ro hg /newroot/run/hg || { echo "headgate-initramfs: cannot mount the harness share"; poweroff -f; }
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

/**
 * Debian's stock kernel (linux-image-amd64 from the configured apt sources) plus an initramfs:
 * busybox, the guest modules and /init. Cached in dir; built once (about 10 s and a 70 MB download).
 */
export async function debianKernelImage(dir: string, log: (l: string) => void): Promise<KernelImage> {
  const ready = path.join(dir, 'image.json');
  if (existsSync(ready)) return JSON.parse(await readFile(ready, 'utf8')) as KernelImage;
  await mkdir(dir, { recursive: true });
  const dep = await sh`apt-cache depends linux-image-amd64`;
  const pkg = /Depends:\s+(linux-image-\S+)/.exec(dep.stdout)?.[1];
  if (!pkg) throw infraError('qemu: cannot resolve linux-image-amd64 with apt-cache (is apt configured?)');
  log(`qemu: downloading ${pkg} (Debian's stock kernel)`);
  const dl = await sh({ cwd: dir })`apt-get download ${pkg}`;
  const deb = (await readdir(dir)).find((f) => f.startsWith(pkg) && f.endsWith('.deb'));
  if (!deb) throw infraError(`qemu: apt-get download ${pkg} failed: ${dl.stderr.trim().split('\n').pop()}`);
  const x = path.join(dir, 'pkg');
  await rm(x, { recursive: true, force: true });
  const ex = await sh`dpkg-deb -x ${path.join(dir, deb)} ${x}`;
  if (ex.exitCode !== 0) throw infraError(`qemu: dpkg-deb -x ${deb} failed: ${ex.stderr.trim()}`);
  const release = (await readdir(path.join(x, 'lib', 'modules')))[0];
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw infraError('qemu: /bin/busybox not found', 'apt-get install busybox-static');
  const dm = await sh`${busybox} depmod -b ${x} ${release}`;
  if (dm.exitCode !== 0) throw infraError(`qemu: depmod failed: ${dm.stderr.trim()}`);
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
  const cpio = await sh({ cwd: root })`sh -c ${'find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1 > "$0"'} ${initrd}`;
  if (cpio.exitCode !== 0) throw infraError(`qemu: building the initramfs failed: ${cpio.stderr.trim()}`);
  const image: KernelImage = { kernel: path.join(x, 'boot', `vmlinuz-${release}`), initrd, release };
  await writeFile(ready, JSON.stringify(image, null, 2) + '\n');
  log(`qemu: kernel ${release} and initramfs (${mods.length} modules) ready in ${dir}`);
  return image;
}
