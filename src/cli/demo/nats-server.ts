/**
 * A nats-server child process on a free loopback port, for `demo --source dynamo` and the tests.
 * It can be stopped and started again on the same port (tests use that for faults), and is killed
 * with its parent at the latest.
 *
 *   const nats = await NatsServer.start();   // nats.url === 'nats://127.0.0.1:<port>'
 *   await nats.stop(); await nats.restart(); await nats.close();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort, waitForPort } from './net.js';

export interface NatsServerOptions {
  /** The nats-server executable; default `nats-server` (looked up on PATH). */
  binary?: string;
  /** How long start-up may take before it fails; default 10 s. */
  timeoutMs?: number;
}

export class NatsServer {
  private child?: ChildProcess;
  /** Even a hurried exit (a second Ctrl-C) must not leave the child behind. */
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  private constructor(
    readonly port: number,
    private readonly binary: string,
    private readonly timeoutMs: number,
  ) {}

  /** Starts a nats-server on a free port and resolves once it accepts connections. */
  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options.binary ?? 'nats-server', options.timeoutMs ?? 10_000);
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts (again) on the same port and resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.running) return;
    const binary = this.binary;
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(this.port)], { stdio: 'ignore' });
    this.child = child;
    process.off('exit', this.killOnExit);
    process.once('exit', this.killOnExit);
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run ${binary}: ${e.message}`)));
      child.once('exit', (code) => reject(new Error(`${binary} exited with code ${code} before listening`)));
    });
    // Only the race below reads it; an exit after start-up (our own stop()) is not an error.
    failed.catch(() => undefined);
    try {
      await Promise.race([waitForPort(this.port, this.timeoutMs, 'nats-server'), failed]);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the server (clients see a disconnect) and resolves once it has exited. */
  async stop(): Promise<void> {
    process.off('exit', this.killOnExit);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  close(): Promise<void> {
    return this.stop();
  }
}

/** The full path of an executable on PATH, or undefined. */
export function findOnPath(name: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
