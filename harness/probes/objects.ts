import { createCipheriv, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic, writeJsonAtomic } from '../lib/atomic.js';
import { mulberry32 } from '../stats/shift.js';

/** One object of the set, as served by the server and verified by the client. */
export interface ObjectEntry {
  path: string;
  size: number;
  kind: 'boxart' | 'segment' | 'custom';
  sha256: string;
}

/** The object set's manifest (DIR/manifest.json). */
export interface ObjectManifest {
  schemaVersion: 1;
  seed: number;
  totalMiB: number;
  objects: ObjectEntry[];
}

const KiB = 1024;
const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes for an object: AES-128-CTR keystream keyed by seed and path. */
export function objectBytes(seed: number, urlPath: string, size: number): Buffer {
  const key = createHash('sha256').update(`headgate-object-key:${seed}`).digest().subarray(0, 16);
  const iv = createHash('sha256').update(`headgate-object-iv:${urlPath}`).digest().subarray(0, 16);
  const c = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

/**
 * Plans the reference user's mix: box art (16-96 KiB, ~10% of bytes, most of the requests)
 * and video segments (1-16 MiB). Same seed and size give the same set, on any machine.
 */
export function planObjects(seed: number, totalMiB: number): { path: string; size: number; kind: 'boxart' | 'segment' }[] {
  const rnd = mulberry32(seed);
  const total = totalMiB * MiB;
  const out: { path: string; size: number; kind: 'boxart' | 'segment' }[] = [];
  let boxBytes = 0;
  for (let i = 0; boxBytes < total * 0.1 || i < 4; i++) {
    const size = (16 + Math.floor(rnd() * 80)) * KiB + Math.floor(rnd() * KiB);
    out.push({ path: `/box/${String(i).padStart(4, '0')}.jpg`, size, kind: 'boxart' });
    boxBytes += size;
  }
  const segSizes = [1, 1, 1, 2, 2, 4, 8, 16].map((m) => m * MiB);
  let segBytes = 0;
  for (let i = 0; segBytes < total - boxBytes || i < 2; i++) {
    const remaining = total - boxBytes - segBytes;
    const fitting = segSizes.filter((s) => s <= Math.max(remaining, MiB));
    const size = fitting[Math.floor(rnd() * fitting.length)];
    out.push({ path: `/seg/${String(i).padStart(4, '0')}.m4s`, size, kind: 'segment' });
    segBytes += size;
  }
  return out;
}

/** Builds the manifest (with checksums) for a planned set without touching the disk. */
export function buildManifest(seed: number, totalMiB: number): { manifest: ObjectManifest; bodies: Map<string, Buffer> } {
  const bodies = new Map<string, Buffer>();
  const objects = planObjects(seed, totalMiB).map((o) => {
    const body = objectBytes(seed, o.path, o.size);
    bodies.set(o.path, body);
    return { ...o, sha256: createHash('sha256').update(body).digest('hex') };
  });
  return { manifest: { schemaVersion: 1, seed, totalMiB, objects }, bodies };
}

/**
 * Writes the object set to dir (reusing files already there when their checksums match, so
 * a corrupted file on disk is never mistaken for a kernel bug) and returns the expected bodies.
 */
export async function materializeObjects(dir: string, seed: number, totalMiB: number): Promise<{ manifest: ObjectManifest; bodies: Map<string, Buffer> }> {
  // Runs on several targets at once share the local set: one writer per directory at a time.
  const key = path.resolve(dir);
  const prev = materializing.get(key) ?? Promise.resolve();
  const mine = prev.then(() => materializeNow(dir, seed, totalMiB));
  materializing.set(key, mine.catch(() => {}));
  return mine;
}

const materializing = new Map<string, Promise<unknown>>();

async function materializeNow(dir: string, seed: number, totalMiB: number): Promise<{ manifest: ObjectManifest; bodies: Map<string, Buffer> }> {
  const { manifest, bodies } = buildManifest(seed, totalMiB);
  const manifestFile = path.join(dir, 'manifest.json');
  let reusable = false;
  if (existsSync(manifestFile)) {
    try {
      const old = JSON.parse(await readFile(manifestFile, 'utf8')) as ObjectManifest;
      reusable = JSON.stringify(old.objects) === JSON.stringify(manifest.objects);
    } catch {
      reusable = false;
    }
  }
  if (reusable) {
    for (const o of manifest.objects) {
      const f = path.join(dir, o.path);
      if (!existsSync(f) || createHash('sha256').update(await readFile(f)).digest('hex') !== o.sha256) {
        reusable = false;
        break;
      }
    }
  }
  if (!reusable) {
    await rm(dir, { recursive: true, force: true });
    for (const o of manifest.objects) await writeAtomic(path.join(dir, o.path), bodies.get(o.path)!);
    await writeJsonAtomic(manifestFile, manifest);
  }
  return { manifest, bodies };
}
