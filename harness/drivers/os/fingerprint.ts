import type { Target } from '../targets/target.js';
import { parseOpensslVersion } from './parsers/common.js';

/**
 * The TLS library versions that set TLS cost: the system `openssl version`, and the one nginx
 * was built with (`nginx -V`, "built with OpenSSL ..."), which is what the server really uses.
 * Keys go into the fingerprint's tools, so a change is named by the comparability check.
 */
export async function opensslVersions(t: Target): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const sys = await t.exec(['openssl', 'version'], { allowFail: true }).catch(() => null);
  const v = sys && sys.code === 0 ? parseOpensslVersion(sys.stdout) : undefined;
  if (v) out.openssl = v;
  const nginx = await t.exec(['nginx', '-V'], { allowFail: true }).catch(() => null);
  const built = nginx && /built with (.*)/.exec(nginx.stderr + nginx.stdout);
  const n = built ? parseOpensslVersion(built[1]) : undefined;
  if (n) out['nginx-openssl'] = n;
  return out;
}
