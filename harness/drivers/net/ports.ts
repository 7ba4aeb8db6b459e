import net from 'node:net';

/** Finds a free TCP port on the address by binding port 0 (the OS picks; never a fixed port). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, address, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true once something accepts TCP connections at address:port. */
export function canConnect(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: address, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}


/**
 * Resolves true once an HTTP(S) server answers a request at the URL (any status). Stronger than
 * canConnect where a forwarder accepts for the server (QEMU user networking accepts on the host
 * side before the guest listens, then drops the connection).
 */
export async function httpAnswers(url: string, timeoutMs = 5000): Promise<boolean> {
  const mod = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve) => {
    const req = mod.get(url, { rejectUnauthorized: false, timeout: timeoutMs, agent: false } as object, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
