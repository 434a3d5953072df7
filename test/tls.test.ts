import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { createGrpcTls } from '../src/grpc/tls.js';
import { Scaler } from '../src/scaler.js';
import { fingerprintOf, makeCa, makeLeaf, type Pem } from './support/certs.js';
import { KedaClient, statusOf } from './support/keda-client.js';
import { FakeWorker } from './support/workers.js';

const RELOAD_MS = 100;
const ref = KedaClient.ref({ pool: 'llama', metric: 'kv_cache_usage', target: '0.7' });

let dir: string;
let ca: Pem; // signs the server certificates and the good client certificate
let otherCa: Pem; // an unrelated CA
let server: Pem;
let server2: Pem; // same CA, new key: the "rotated" certificate
let client: Pem;
let strangerClient: Pem; // signed by otherCa
let worker: FakeWorker;
const scalers: Scaler[] = [];
const clients: KedaClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'scaler-tls-'));
  [ca, otherCa] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
  [server, server2, client, strangerClient] = await Promise.all([
    makeLeaf(dir, 'server', ca, 'server'),
    makeLeaf(dir, 'server2', ca, 'server'),
    makeLeaf(dir, 'client', ca, 'client'),
    makeLeaf(dir, 'stranger', otherCa, 'client'),
  ]);
  worker = await FakeWorker.start();
});

afterAll(async () => {
  await worker.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(scalers.splice(0).map((s) => s.stop(500)));
});

/** Copies the PEM files to fresh paths the scaler watches (so a test can overwrite them). */
async function liveFiles(name: string, identity: Pem, clientCa?: string) {
  const live = await mkdtemp(path.join(dir, `${name}-`));
  const files = { cert: path.join(live, 'tls.crt'), key: path.join(live, 'tls.key'), clientCa: clientCa ? path.join(live, 'ca.crt') : undefined };
  await copyFile(identity.cert, files.cert);
  await copyFile(identity.key, files.key);
  if (clientCa && files.clientCa) await copyFile(clientCa, files.clientCa);
  return files;
}

async function startScaler(tls?: { cert: string; key: string; clientCa?: string }): Promise<Scaler> {
  const config = validateConfig({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    ...(tls ? { tls: Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)) } : {}),
    pools: [{ name: 'llama', source: 'vllm', targets: [worker.target] }],
  });
  const scaler = await Scaler.start(config, { tlsReloadIntervalMs: RELOAD_MS });
  scalers.push(scaler);
  return scaler;
}

function tlsClient(scaler: Scaler, trust: string, identity?: Pem): KedaClient {
  const credentials = grpc.credentials.createSsl(
    readFileSync(trust),
    identity ? readFileSync(identity.key) : null,
    identity ? readFileSync(identity.cert) : null,
  );
  const c = new KedaClient(`127.0.0.1:${scaler.grpcPort}`, credentials);
  clients.push(c);
  return c;
}

function plainClient(scaler: Scaler): KedaClient {
  const c = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
  clients.push(c);
  return c;
}

/** The certificate the server presents to a new TLS connection (ALPN h2, as a gRPC client). */
function servedFingerprint(port: number, identity?: Pem): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
      ...(identity ? { cert: readFileSync(identity.cert), key: readFileSync(identity.key) } : {}),
    });
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const specOk = { metricSpecs: [expect.objectContaining({ metricName: 'llama-kv_cache_usage', targetSizeFloat: 0.7 })] };

describe('gRPC without tls', () => {
  it('stays plaintext by default', async () => {
    const scaler = await startScaler();
    await expect(plainClient(scaler).getMetricSpec(ref)).resolves.toMatchObject(specOk);
  });
});

describe('gRPC with TLS (server certificate)', () => {
  it('refuses a plaintext client and serves a client that trusts the CA', async () => {
    const scaler = await startScaler(await liveFiles('tls', server));
    const refused = await statusOf(plainClient(scaler).getMetricSpec(ref));
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    await expect(tlsClient(scaler, ca.cert).getMetricSpec(ref)).resolves.toMatchObject(specOk);
    // A client trusting another CA does not accept the server.
    expect((await statusOf(tlsClient(scaler, otherCa.cert).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
    // TLS alone does not ask for client certificates: a client presenting one is fine too.
    await expect(tlsClient(scaler, ca.cert, client).getMetricSpec(ref)).resolves.toMatchObject(specOk);
  });

  it('serves a rotated certificate (new key and certificate at the same paths) without a restart', async () => {
    const files = await liveFiles('rotate', server);
    const scaler = await startScaler(files);
    expect(await servedFingerprint(scaler.grpcPort)).toBe(fingerprintOf(server.cert));
    const before = tlsClient(scaler, ca.cert);
    await expect(before.getMetricSpec(ref)).resolves.toMatchObject(specOk);

    // Half-way through a rotation (new certificate, old key) the old certificate is kept: no outage.
    await copyFile(server2.cert, files.cert);
    await new Promise((resolve) => setTimeout(resolve, RELOAD_MS * 4));
    expect(await servedFingerprint(scaler.grpcPort)).toBe(fingerprintOf(server.cert));
    await expect(tlsClient(scaler, ca.cert).getMetricSpec(ref)).resolves.toMatchObject(specOk);

    await copyFile(server2.key, files.key);
    const after = await eventually(
      () => servedFingerprint(scaler.grpcPort),
      (f) => f === fingerprintOf(server2.cert),
    );
    expect(after).toBe(fingerprintOf(server2.cert));
    expect(after).not.toBe(fingerprintOf(server.cert));
    // New connections use the new certificate; the connection opened before keeps working.
    await expect(tlsClient(scaler, ca.cert).getMetricSpec(ref)).resolves.toMatchObject(specOk);
    await expect(before.getMetricSpec(ref)).resolves.toMatchObject(specOk);
  });
});

describe('gRPC with mTLS (clientCa)', () => {
  it('requires a client certificate signed by the client CA', async () => {
    const scaler = await startScaler(await liveFiles('mtls', server, ca.cert));
    expect((await statusOf(plainClient(scaler).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
    // No client certificate.
    expect((await statusOf(tlsClient(scaler, ca.cert).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
    // A certificate from another CA.
    expect((await statusOf(tlsClient(scaler, ca.cert, strangerClient).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
    // A server certificate signed by the right CA is not a client certificate (extendedKeyUsage serverAuth only).
    expect((await statusOf(tlsClient(scaler, ca.cert, server2).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
    // The right one.
    await expect(tlsClient(scaler, ca.cert, client).getMetricSpec(ref)).resolves.toMatchObject(specOk);
    await expect(tlsClient(scaler, ca.cert, client).isActive(ref)).resolves.toBeTypeOf('boolean');
  });

  it('picks up a rotated client CA without a restart', async () => {
    const files = await liveFiles('mtls-rotate', server, ca.cert);
    const scaler = await startScaler(files);
    await expect(tlsClient(scaler, ca.cert, client).getMetricSpec(ref)).resolves.toMatchObject(specOk);
    expect((await statusOf(tlsClient(scaler, ca.cert, strangerClient).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);

    await copyFile(otherCa.cert, files.clientCa!);
    const accepted = await eventually(
      () =>
        tlsClient(scaler, ca.cert, strangerClient)
          .getMetricSpec(ref)
          .then(
            () => true,
            () => false,
          ),
      (ok) => ok,
    );
    expect(accepted).toBe(true);
    expect((await statusOf(tlsClient(scaler, ca.cert, client).getMetricSpec(ref))).code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('start-up errors name the key', () => {
  async function startError(tls: Record<string, string>): Promise<string> {
    try {
      await startScaler(tls as { cert: string; key: string });
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('expected start-up to fail');
  }

  it('an unreadable file', async () => {
    const missing = path.join(dir, 'nope.crt');
    expect(await startError({ cert: missing, key: server.key })).toMatch(new RegExp(`^tls\\.cert: cannot read '${missing}'`));
    expect(await startError({ cert: server.cert, key: path.join(dir, 'nope.key') })).toMatch(/^tls\.key: cannot read/);
    expect(await startError({ cert: server.cert, key: server.key, clientCa: path.join(dir, 'nope-ca.crt') })).toMatch(/^tls\.clientCa: cannot read/);
  });

  it('files that are not what the key says', async () => {
    const garbage = path.join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a pem file\n');
    expect(await startError({ cert: garbage, key: server.key })).toMatch(/^tls\.cert: '.*garbage\.pem' holds no PEM certificate/);
    expect(await startError({ cert: server.key, key: server.key })).toMatch(/^tls\.cert: .* holds no PEM certificate/);
    expect(await startError({ cert: server.cert, key: garbage })).toMatch(/^tls\.key: '.*garbage\.pem' is not a valid unencrypted PEM private key/);
    expect(await startError({ cert: server.cert, key: server2.key })).toMatch(/^tls\.key: '.*server2\.key' does not belong to the certificate in tls\.cert/);
    expect(await startError({ cert: server.cert, key: server.key, clientCa: garbage })).toMatch(/^tls\.clientCa: '.*garbage\.pem' holds no PEM certificate/);
    const broken = path.join(dir, 'broken.crt');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(await startError({ cert: broken, key: server.key })).toMatch(/^tls\.cert: '.*broken\.crt' is not a valid PEM certificate/);
  });
});

describe('createGrpcTls', () => {
  it('watches the files only while a server uses the credentials', async () => {
    const tls = createGrpcTls({ cert: server.cert, key: server.key, clientCa: ca.cert }, { reloadIntervalMs: RELOAD_MS });
    expect(tls.provider.watching).toBe(false);
    expect(tls.provider.mutualTls).toBe(true);
    const s = new grpc.Server();
    await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', tls.credentials, (e, port) => (e ? reject(e) : resolve(port))));
    expect(tls.provider.watching).toBe(true);
    await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
    expect(tls.provider.watching).toBe(false);
    tls.close();
  });
});
