/** Parent side of bench/child.ts: fork, wait for `ready`, bracket measurement windows, stop. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ChildMode, ChildWindow, ParentMessage } from './child.js';

const CHILD_ENTRY = fileURLToPath(new URL('./child.js', import.meta.url));

export class ChildHandle {
  private constructor(
    private readonly process: ChildProcess,
    readonly ready: Extract<ChildMessage, { type: 'ready' }>,
  ) {}

  /** `execArgv`: Node flags for the child, e.g. `--expose-gc` so that its memory is measured after a collection. */
  static async start(mode: ChildMode, args: readonly string[] = [], timeoutMs = 30_000, execArgv: readonly string[] = []): Promise<ChildHandle> {
    const child = fork(CHILD_ENTRY, [mode, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...execArgv] });
    const ready = await new Promise<Extract<ChildMessage, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`bench child '${mode}' not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`bench child '${mode}' exited with code ${code} before it was ready`));
      };
      child.once('exit', onExit);
      child.on('message', function onMessage(message: ChildMessage) {
        if (message.type === 'ready') {
          clearTimeout(timer);
          child.off('exit', onExit);
          child.off('message', onMessage);
          resolve(message);
        } else if (message.type === 'error') {
          clearTimeout(timer);
          child.off('exit', onExit);
          reject(new Error(`bench child '${mode}' failed: ${message.message}`));
        }
      });
    });
    return new ChildHandle(child, ready);
  }

  private request<T extends ChildMessage['type']>(message: ParentMessage, reply: T): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('bench child exited during a measurement'));
      this.process.once('exit', onExit);
      const onMessage = (m: ChildMessage) => {
        if (m.type !== reply) return;
        this.process.off('message', onMessage);
        this.process.off('exit', onExit);
        resolve(m as Extract<ChildMessage, { type: T }>);
      };
      this.process.on('message', onMessage);
      this.process.send(message);
    });
  }

  async begin(): Promise<void> {
    await this.request({ type: 'begin' }, 'begun');
  }

  async end(): Promise<ChildWindow> {
    return (await this.request({ type: 'end' }, 'ended')).window;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.send({ type: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
