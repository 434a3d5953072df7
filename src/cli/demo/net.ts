/**
 * Small loopback networking helpers shared by the demo's simulated workers, its nats-server and
 * the tests: a free port, waiting for a port to accept connections, listening and closing.
 */
import type { Server as HttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Server as NetServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it; nothing holds it afterwards). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection; rejects after `timeoutMs`, naming `what`. */
export async function waitForPort(port: number, timeoutMs: number, what = 'the server'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Listens on `host:port` (0: any free port); resolves with the bound port, rejects on a listen error. */
export async function listen(server: HttpServer | NetServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening and drops open (keep-alive) connections; resolves once the server has closed. */
export function closeServer(server: HttpServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
