/**
 * What claims a block device beyond mounts, swap and sysfs holders (blockdev.ts): on-disk
 * signatures (a ZFS or btrfs member, md/LVM/LUKS, an external journal, a partition table), the
 * kernel's own exclusive claims (Linux O_EXCL on a block device fails with EBUSY while a
 * filesystem, md, dm, btrfs, ZFS or an ext4 external journal holds it), and GEOM access counts on
 * FreeBSD. Pure parsers plus the POSIX sh the targets run; the adapters decide.
 */

/** `blkid -p -o export DEV` (util-linux, low-level probe, no cache): KEY=VALUE lines as a map. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** What a blkid TYPE means to someone about to overwrite the device. */
const SIGNATURES: Record<string, string> = {
  zfs_member: 'a ZFS pool member',
  btrfs: 'a btrfs filesystem (or a member of a multi-device one)',
  linux_raid_member: 'an md RAID member',
  LVM2_member: 'an LVM physical volume',
  crypto_LUKS: 'a LUKS encrypted volume',
  jbd: 'an ext3/ext4 external journal',
  swap: 'swap space',
  xfs_external_log: 'an XFS external log',
  bcache: 'a bcache device',
  ceph: 'a Ceph OSD',
};

/**
 * Why blkid's findings forbid overwriting the device, or null when it found nothing. Any
 * signature is refused: headgate accepts only devices with no signature at all.
 */
export function signatureRefusal(f: Record<string, string>): string | null {
  if (f.PTTYPE) return `it holds a partition table (${f.PTTYPE})`;
  if (f.TYPE) {
    const article = /^[aeiou]/i.test(f.TYPE) ? 'an' : 'a';
    const what = SIGNATURES[f.TYPE] ?? `${article} ${f.TYPE} ${f.USAGE === 'filesystem' ? 'filesystem' : 'signature'}`;
    const label = f.LABEL ? `, label ${JSON.stringify(f.LABEL)}` : '';
    return `it is ${what} (blkid: TYPE=${f.TYPE}${label})`;
  }
  if (f.USAGE) return `blkid finds a ${f.USAGE} signature on it`;
  return null;
}

/**
 * Probes a device's signatures on a Linux target: prints `blkid -p -o export` and exits with
 * blkid's code (0 found, 2 nothing found, 8 ambivalent); 127 when blkid is missing.
 */
export const BLKID_SCRIPT = 'command -v blkid >/dev/null 2>&1 || exit 127; exec blkid -p -o export -- "$1"';

/**
 * Opens a block device O_RDONLY|O_EXCL on a Linux target and closes it: exit 0 when nobody holds an
 * exclusive claim, 16 (EBUSY) when something does, 127 when neither perl nor python3 is there.
 * The errno is printed on failure.
 */
export const EXCL_OPEN_SCRIPT = [
  'if command -v perl >/dev/null 2>&1; then',
  '  exec perl -MFcntl -MPOSIX -e \'sysopen(my $f, $ARGV[0], O_RDONLY|O_EXCL) and exit 0; print "$!\\n"; exit($!{EBUSY} ? 16 : 1)\' "$1"',
  'elif command -v python3 >/dev/null 2>&1; then',
  '  exec python3 -c \'import os,sys,errno\ntry:\n  os.close(os.open(sys.argv[1], os.O_RDONLY|os.O_EXCL))\nexcept OSError as e:\n  print(e.strerror); sys.exit(16 if e.errno == errno.EBUSY else 1)\' "$1"',
  'fi',
  'exit 127',
].join('\n');

/** One GEOM provider of `kern.geom.confxml` (sys/geom/geom_dump.c g_conf_provider). */
export interface GeomProvider {
  id: string;
  geom: string;
  name: string;
  aliases: string[];
  mode: [number, number, number];
}
/** One GEOM consumer (g_conf_consumer): which geom it belongs to and which provider it is attached to. */
export interface GeomConsumer {
  geom: string;
  provider: string | null;
  mode: [number, number, number];
}
/** The parts of the GEOM mesh the in-use check reads. */
export interface GeomMesh {
  geoms: Map<string, { className: string; name: string }>;
  providers: GeomProvider[];
  consumers: GeomConsumer[];
}

const xmlText = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const modeOf = (block: string): [number, number, number] => {
  const m = /<mode>r(\d+)w(\d+)e(\d+)<\/mode>/.exec(block);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
};

/**
 * Parses `sysctl -n kern.geom.confxml` (geom_dump.c: `<class id>` with `<name>` and `<geom id>`
 * elements, each geom with `<consumer>` and `<provider>` children carrying `<geom ref>`,
 * `<provider ref>`, `<mode>rNwNeN</mode>`, `<name>` and `<alias>`). Element order within a geom
 * follows the source; the parser does not depend on whitespace.
 */
export function parseGeomConfxml(xml: string): GeomMesh {
  const mesh: GeomMesh = { geoms: new Map(), providers: [], consumers: [] };
  for (const c of xml.matchAll(/<class id="([^"]+)">([\s\S]*?)<\/class>/g)) {
    const className = xmlText(/^\s*<name>([^<]*)<\/name>/.exec(c[2])?.[1] ?? '');
    for (const g of c[2].matchAll(/<geom id="([^"]+)">([\s\S]*?)(?=<geom id="|$)/g)) {
      const name = xmlText(/<name>([^<]*)<\/name>/.exec(g[2].replace(/<consumer[\s\S]*?<\/consumer>|<provider[\s\S]*?<\/provider>/g, ''))?.[1] ?? '');
      mesh.geoms.set(g[1], { className, name });
      for (const cp of g[2].matchAll(/<consumer id="[^"]+">([\s\S]*?)<\/consumer>/g)) {
        mesh.consumers.push({ geom: /<geom ref="([^"]+)"/.exec(cp[1])?.[1] ?? g[1], provider: /<provider ref="([^"]+)"/.exec(cp[1])?.[1] ?? null, mode: modeOf(cp[1]) });
      }
      for (const pp of g[2].matchAll(/<provider id="([^"]+)">([\s\S]*?)<\/provider>/g)) {
        mesh.providers.push({
          id: pp[1],
          geom: /<geom ref="([^"]+)"/.exec(pp[2])?.[1] ?? g[1],
          name: xmlText(/<name>([^<]*)<\/name>/.exec(pp[2])?.[1] ?? ''),
          aliases: [...pp[2].matchAll(/<alias>([^<]*)<\/alias>/g)].map((a) => xmlText(a[1])),
          mode: modeOf(pp[2]),
        });
      }
    }
  }
  return mesh;
}

/**
 * Why GEOM says a provider (a /dev name without /dev/) must not be overwritten, or null: any
 * open count (a mounted filesystem r1w1e1, swap r1w1e0, a ZFS vdev r1w0e1 or r1w1e1, a partition
 * in use: access is passed down to the disk), or a geom other than DEV tasted on it (a partition
 * table, a mirror, an encrypted or labelled volume: everything but the disk-ident label every
 * disk gets). A name GEOM does not know is refused too.
 */
export function geomRefusal(mesh: GeomMesh, dev: string): string | null {
  const pp = mesh.providers.find((p) => p.name === dev || p.aliases.includes(dev));
  if (!pp) return `GEOM has no provider named ${dev} (kern.geom.confxml), so whether it is in use cannot be checked`;
  const users = mesh.consumers.filter((c) => c.provider === pp.id).map((c) => ({ c, g: mesh.geoms.get(c.geom) }));
  const [r, w, e] = pp.mode;
  if (![r, w, e].every((n) => n === 0)) {
    const open = users.filter((u) => u.c.mode.some((n) => n > 0)).map((u) => `${u.g?.className ?? '?'} ${u.g?.name ?? ''}`.trim());
    return `GEOM has it open (r${r}w${w}e${e}${open.length ? ` by ${open.join(', ')}` : ''})`;
  }
  for (const u of users) {
    const cls = u.g?.className ?? '?';
    if (cls === 'DEV') continue;
    if (cls === 'LABEL') {
      const labels = mesh.providers.filter((p) => p.geom === u.c.geom).map((p) => p.name);
      if (labels.every((l) => l.startsWith('diskid/'))) continue;
      return `it carries a label (${labels.join(', ')})`;
    }
    return `GEOM class ${cls} has tasted it (${cls === 'PART' ? 'a partition table' : `geom ${u.g?.name ?? '?'}`})`;
  }
  return null;
}
