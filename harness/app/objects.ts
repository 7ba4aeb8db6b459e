import { materializeObjects } from '../probes/objects.js';

/** `objects`: writes the seeded object set and its manifest.json into dir (a server's document root the user runs). */
export async function writeObjectSet(
  dir: string,
  seed: number,
  totalMiB: number,
): Promise<{ objects: number; bytes: number }> {
  const { manifest } = await materializeObjects(dir, seed, totalMiB);
  return { objects: manifest.objects.length, bytes: manifest.objects.reduce((a, x) => a + x.size, 0) };
}
