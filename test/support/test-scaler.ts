/**
 * The real scaler (Scaler.start) as the end-to-end tests run it: gRPC and HTTP on 127.0.0.1, port
 * 0, a short check interval, and a KEDA-like client on its gRPC port. One instance per test file;
 * `close()` it after each test (client, then scaler, then whatever the test tracked).
 *
 *   const harness = new TestScaler();
 *   afterEach(() => harness.close());
 *   await harness.start([{ name: 'llama', source: 'vllm', targets }]);
 *   await harness.client.getMetrics(ref, 'llama-queue_depth');
 */
import * as grpc from '@grpc/grpc-js';
import { expect, vi } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import type { ScaledObjectRef } from '../../src/grpc/messages.js';
import { Scaler, type ScalerOptions } from '../../src/scaler.js';
import { KedaClient, healthCheck, statusOf } from './keda-client.js';

/** The check interval of a test scaler, in ms: tests time their waits with it. */
export const INTERVAL = 100;

export class TestScaler {
  private current?: Scaler;
  private kedaClient?: KedaClient;
  private readonly closers: (() => Promise<void>)[] = [];

  /**
   * Starts a scaler with these pools. `config` goes on top of the defaults: a check interval of
   * INTERVAL, a 2 s cache TTL and a 300 ms scrape timeout. A client of a previous scaler is closed.
   */
  async start(pools: unknown[], config: Record<string, unknown> = {}, options: ScalerOptions = {}): Promise<Scaler> {
    if (this.current) throw new Error('a test scaler is already running: stop it first');
    this.kedaClient?.close();
    this.kedaClient = undefined;
    this.current = await Scaler.start(
      validateConfig({
        grpc: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        checkInterval: `${INTERVAL}ms`,
        cacheTtl: '2s',
        scrape: { timeout: '300ms' },
        pools,
        ...config,
      }),
      options,
    );
    return this.current;
  }

  /** The running scaler (throws when none is). */
  get scaler(): Scaler {
    if (!this.current) throw new Error('no test scaler is running');
    return this.current;
  }

  /** `127.0.0.1:<gRPC port>`. */
  get grpcAddress(): string {
    return `127.0.0.1:${this.scaler.grpcPort}`;
  }

  /** `http://127.0.0.1:<HTTP port>`, the ops server. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.scaler.httpPort}`;
  }

  /** A KEDA-like client of the scaler's gRPC port, made on first use and closed by `close()`. */
  get client(): KedaClient {
    this.kedaClient ??= new KedaClient(this.grpcAddress);
    return this.kedaClient;
  }

  /** Resolves once gRPC health says SERVING for readiness (every pool has fresh data). */
  async waitReady(): Promise<void> {
    const address = this.grpcAddress;
    await vi.waitFor(async () => expect(await healthCheck(address, 'readiness')).toBe('SERVING'), { timeout: 5000, interval: 50 });
  }

  /**
   * KEDA's three calls for a trigger (GetMetricSpec, GetMetrics for `metricName`, IsActive) each
   * refuse `so` with INVALID_ARGUMENT, with `message` in the details.
   */
  async expectInvalidArgument(so: ScaledObjectRef, message: string, metricName = 'x'): Promise<void> {
    for (const call of [this.client.getMetricSpec(so), this.client.getMetrics(so, metricName), this.client.isActive(so)]) {
      const status = await statusOf(call);
      expect(status.code, JSON.stringify(so.scalerMetadata)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toContain(message);
    }
  }

  /** Stops the scaler (1 s grace for streams); its client stays open until `close()` or the next `start()`. */
  async stopScaler(): Promise<void> {
    const scaler = this.current;
    this.current = undefined;
    await scaler?.stop(1000);
  }

  /** Closes `thing` in `close()`, after the scaler; returns it. */
  track<T extends { close(): Promise<void> }>(thing: T): T {
    this.closers.push(() => thing.close());
    return thing;
  }

  /** Runs `close` in `close()`, after the scaler. */
  onClose(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  /** Closes the client, stops the scaler, then closes what was tracked. */
  async close(): Promise<void> {
    this.kedaClient?.close();
    this.kedaClient = undefined;
    await this.stopScaler();
    await Promise.all(this.closers.splice(0).map((close) => close()));
  }
}
