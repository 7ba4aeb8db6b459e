import { randomBytes } from 'node:crypto';
import path from 'node:path';
import tls from 'node:tls';
import type { CleanupStack } from '../../lib/cleanup.js';
import { journaled } from '../../lib/journal.js';
import { infraError } from '../../model/errors.js';
import type { TlsSpec } from '../../model/types.js';
import type { Target } from '../targets/target.js';

/** A certificate for a run's servers, and where its private key lives (outside the run directory). */
export interface TlsPair {
  cert: string;
  key: string;
  /** The 0700 directory holding only the key; removed on the stack. */
  keyDir: string;
}

/**
 * Generates a throwaway ECDSA P-256 certificate on the target (openssl req -x509); clients do not
 * verify it: it exists so TLS runs at all. The certificate goes to certDir (it may stay with the
 * run); the private key never does: it goes to a fresh 0700 directory under keyParent,
 * the target's work/tmp directory, outside the reports tree and every CI artifact, and that
 * directory is removed on the stack.
 */
export async function makeCertificate(target: Target, o: { certDir: string; keyParent: string; address: string }, stack: CleanupStack): Promise<TlsPair> {
  const cert = path.posix.join(o.certDir, 'server.crt');
  await target.exec(['mkdir', '-p', '--', o.certDir, o.keyParent]);
  // A fresh name, journaled before it exists (a SIGKILL leaves an entry that removes it), created 0700.
  const keyDir = path.posix.join(o.keyParent, `hg-tls-${process.pid}-${randomBytes(6).toString('hex')}`);
  await journaled(
    target.journal,
    stack,
    `remove the TLS key directory ${keyDir}`,
    { kind: 'rm', path: keyDir },
    async () => {
      const made = await target.exec(['mkdir', '-m', '700', '--', keyDir], { allowFail: true });
      if (made.code !== 0) throw infraError(`mkdir ${keyDir} on ${target.name} failed: ${made.stderr.trim().split('\n').pop()}`);
    },
    async () => void (await target.exec(['rm', '-rf', '--', keyDir])),
  );
  const key = path.posix.join(keyDir, 'server.key');
  const san = /^[\d.]+$|:/.test(o.address) ? `IP:${o.address}` : `DNS:${o.address}`;
  const r = await target.exec(
    ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=headgate-run', '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert],
    { allowFail: true },
  );
  if (r.code !== 0) throw infraError(`openssl req on ${target.name} failed: ${r.stderr.trim().split('\n').pop()}`, 'install openssl on the target');
  return { cert, key, keyDir };
}

/** Throws when an artifact (a file attached to the run and its reports) is the private key or lies in its directory. */
export function checkNoKeyArtifacts(artifacts: Record<string, string>, tls: TlsPair): void {
  const dir = tls.keyDir.replace(/\/+$/, '');
  const leak = Object.entries(artifacts).find(([, f]) => f === tls.key || f === dir || f.startsWith(`${dir}/`));
  if (leak) throw infraError(`artifact ${leak[0]} (${leak[1]}) is the TLS private key or beside it; refusing to attach it to the run`);
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
