/** Output parsers shared by the OS adapters. */

/** "OpenSSL 3.0.13" from `openssl version`, or from nginx -V's "built with OpenSSL 3.0.13 ..." line. */
export function parseOpensslVersion(text: string): string | undefined {
  const m = /\b(OpenSSL|LibreSSL|BoringSSL)\s+(\d[\w.-]*)/.exec(text);
  return m ? `${m[1]} ${m[2]}` : undefined;
}
