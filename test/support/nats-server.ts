/**
 * A real nats-server for tests: started on a free loopback port, and stoppable and restartable
 * on the same port to test faults. Needs `nats-server` on PATH (.ci/run installs it). The demo
 * starts its nats-server with the same class (src/cli/demo/nats-server.ts).
 *
 *   const nats = await NatsServer.start();   // nats.url === 'nats://127.0.0.1:<port>'
 *   await nats.stop(); await nats.restart(); await nats.close();
 */
export { NatsServer } from '../../src/cli/demo/nats-server.js';
