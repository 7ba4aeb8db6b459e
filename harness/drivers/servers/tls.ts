import path from 'node:path';
import tls from 'node:tls';
import { infraError } from '../../model/errors.js';
import type { TlsSpec } from '../../model/types.js';
import type { Target } from '../targets/target.js';

/**
 * Generates a throwaway ECDSA P-256 certificate for this run on the target (openssl req -x509),
 * unless one exists in dir already. Clients do not verify it: it exists so TLS runs at all.
 */
export async function ensureCertificate(target: Target, dir: string, address: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  if ((await target.readFileIfExists(cert)) !== null) return { cert, key };
  await target.exec(['mkdir', '-p', dir]);
  const san = /^[\d.]+$|:/.test(address) ? `IP:${address}` : `DNS:${address}`;
  const r = await target.exec(
    ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=headgate-run', '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert],
    { allowFail: true },
  );
  if (r.code !== 0) throw infraError(`openssl req on ${target.name} failed: ${r.stderr.trim().split('\n').pop()}`, 'install openssl on the target');
  return { cert, key };
}

/** nginx directives for a variant's TLS settings (protocol, one cipher, kTLS or not). */
export function tlsDirectives(t: TlsSpec): string[] {
  const d = [`ssl_protocols ${t.protocol}`, 'ssl_session_cache off', 'ssl_session_tickets off'];
  // TLS 1.2 ciphers are ssl_ciphers; TLS 1.3 suites only through OpenSSL's Ciphersuites command.
  if (t.protocol === 'TLSv1.2') d.push(`ssl_ciphers ${t.ciphers}`, 'ssl_prefer_server_ciphers on');
  else d.push(`ssl_conf_command Ciphersuites ${t.ciphers}`);
  if (t.ktls) d.push('ssl_conf_command Options KTLS');
  return d;
}

/** Completes one TLS handshake and reports what the server negotiated. */
export function probeTls(host: string, port: number): Promise<{ protocol: string; cipher: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, servername: /^[\d.]+$/.test(host) ? undefined : host }, () => {
      // OpenSSL's cipher name, the same vocabulary as the suite manifests and nginx's ssl_ciphers.
      const out = { protocol: s.getProtocol() ?? '?', cipher: s.getCipher()?.name ?? '?' };
      s.end();
      resolve(out);
    });
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
    s.once('error', (e) => reject(infraError(`TLS handshake with ${host}:${port} failed: ${e.message}`)));
  });
}
