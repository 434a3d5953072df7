import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { TlsConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import type { Logger } from '../log.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/** How often the PEM files are re-read when nothing else is said (Secret volumes update within ~1 min). */
export const DEFAULT_TLS_RELOAD_MS = 5_000;

/** The PEM material of one consistent, validated state of the files. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer;
  /** SHA-256 fingerprint of the leaf certificate (colon-separated hex, as Node prints it). */
  readonly fingerprint: string;
  readonly subject: string;
  readonly notAfter: string;
}

type Files = Pick<TlsConfig, 'cert' | 'key' | 'clientCa'>;
type Contents = { cert: Buffer; key: Buffer; clientCa?: Buffer };

/** An invalid TLS file: the message names the configuration key (tls.cert, tls.key, tls.clientCa) and the path. */
export class TlsFileError extends ConfigError {
  constructor(
    readonly key: 'cert' | 'key' | 'clientCa' | 'files',
    message: string,
  ) {
    super(message);
    this.name = 'TlsFileError';
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Checks that the three files form a usable server identity: a PEM certificate, a PEM private key
 * that belongs to it, and (for mTLS) at least one PEM CA certificate. Throws a TlsFileError naming
 * the offending key.
 */
export function validateTlsMaterial(files: Files, contents: Contents): TlsMaterial {
  const certText = contents.cert.toString('utf8');
  const blocks = certText.match(PEM_CERT);
  if (!blocks) {
    throw new TlsFileError('cert', `tls.cert: '${files.cert}' holds no PEM certificate (expected a -----BEGIN CERTIFICATE----- block)`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]);
    for (const block of blocks.slice(1)) new X509Certificate(block);
  } catch (error) {
    throw new TlsFileError('cert', `tls.cert: '${files.cert}' is not a valid PEM certificate: ${(error as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(contents.key);
  } catch (error) {
    throw new TlsFileError('key', `tls.key: '${files.key}' is not a valid unencrypted PEM private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsFileError('key', `tls.key: '${files.key}' does not belong to the certificate in tls.cert '${files.cert}'`);
  }
  if (files.clientCa !== undefined) {
    const caBlocks = (contents.clientCa ?? Buffer.alloc(0)).toString('utf8').match(PEM_CERT);
    if (!caBlocks) {
      throw new TlsFileError('clientCa', `tls.clientCa: '${files.clientCa}' holds no PEM certificate (expected the CA that signs client certificates)`);
    }
    try {
      for (const block of caBlocks) new X509Certificate(block);
    } catch (error) {
      throw new TlsFileError('clientCa', `tls.clientCa: '${files.clientCa}' is not a valid PEM certificate: ${(error as Error).message}`);
    }
  }
  try {
    // What the HTTP/2 server will do with it: catches anything OpenSSL refuses that the checks above let through.
    createSecureContext({ cert: contents.cert, key: contents.key, ca: contents.clientCa });
  } catch (error) {
    throw new TlsFileError('files', `tls: '${files.cert}' and '${files.key}' cannot be used together: ${(error as Error).message}`);
  }
  return {
    cert: contents.cert,
    key: contents.key,
    clientCa: contents.clientCa,
    fingerprint: leaf.fingerprint256,
    subject: leaf.subject.replace(/\n/g, ', '),
    notAfter: new Date(leaf.validTo).toISOString(),
  };
}

function readSync(key: 'cert' | 'key' | 'clientCa', path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TlsFileError(key, `tls.${key}: cannot read '${path}': ${(error as Error).message}`);
  }
}

/** Reads and validates the files now (start-up): a problem stops start-up with a message naming the key. */
export function loadTlsMaterial(files: Files): TlsMaterial {
  const contents: Contents = { cert: readSync('cert', files.cert), key: readSync('key', files.key) };
  if (files.clientCa !== undefined) contents.clientCa = readSync('clientCa', files.clientCa);
  return validateTlsMaterial(files, contents);
}

/**
 * A grpc-js certificate provider over the configured PEM files that reloads them when they change,
 * without a restart (cert-manager renewals, rotated Secrets).
 *
 * Why not grpc-js's own `FileWatcherCertificateProvider`: it publishes whatever it reads, so a
 * rotation caught half-way (new certificate, old key — two files are never replaced at the same
 * instant unless a Secret volume swaps them atomically) or a briefly missing file makes grpc-js
 * drop every new connection until the next read. This provider validates each new state first and
 * keeps serving the last good one (logging why) until the files agree again. It uses grpc-js's
 * `CertificateProvider` interface, so the server swaps the TLS context of live listeners itself.
 */
export class TlsCertificateProvider implements CertificateProvider {
  private current: TlsMaterial;
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private timer?: NodeJS.Timeout;
  private reading = false;
  private closed = false;
  private lastProblem?: string;
  /** Number of successful reloads since start (a changed, valid set of files). */
  reloads = 0;

  constructor(
    private readonly files: Files,
    private readonly options: { reloadIntervalMs?: number; log?: Logger } = {},
  ) {
    this.current = loadTlsMaterial(files);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** True while some server listener uses the credentials (the files are polled only then). */
  get watching(): boolean {
    return this.timer !== undefined;
  }

  get mutualTls(): boolean {
    return this.files.clientCa !== undefined;
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.startWatching();
    process.nextTick(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.maybeStopWatching();
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.startWatching();
    process.nextTick(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.maybeStopWatching();
  }

  /** Re-reads the files now; resolves true when a new certificate state was published. */
  async reload(): Promise<boolean> {
    if (this.reading || this.closed) return false;
    this.reading = true;
    try {
      let contents: Contents;
      try {
        const [cert, key, clientCa] = await Promise.all([
          readFile(this.files.cert),
          readFile(this.files.key),
          this.files.clientCa === undefined ? Promise.resolve(undefined) : readFile(this.files.clientCa),
        ]);
        contents = { cert, key, clientCa };
      } catch (error) {
        this.problem(`cannot read the TLS files: ${(error as Error).message}`);
        return false;
      }
      if (this.unchanged(contents)) {
        this.recovered();
        return false;
      }
      let next: TlsMaterial;
      try {
        next = validateTlsMaterial(this.files, contents);
      } catch (error) {
        this.problem((error as Error).message);
        return false;
      }
      if (this.closed) return false;
      const previous = this.current;
      this.current = next;
      this.reloads += 1;
      this.lastProblem = undefined;
      this.options.log?.info(
        { previousFingerprint: previous.fingerprint, fingerprint: next.fingerprint, subject: next.subject, notAfter: next.notAfter },
        'gRPC TLS certificate reloaded',
      );
      // Both updates land in the same tick, so no handshake ever sees a new identity with an old CA.
      const identity = this.identityUpdate();
      const ca = this.caUpdate();
      for (const listener of this.identityListeners) listener(identity);
      for (const listener of this.caListeners) listener(ca);
      return true;
    } finally {
      this.reading = false;
    }
  }

  /** Stops watching the files (the server's own watchers are released when its listeners close). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.identityListeners.clear();
    this.caListeners.clear();
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: this.current.cert, privateKey: this.current.key };
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    return this.current.clientCa ? { caCertificate: this.current.clientCa } : null;
  }

  private unchanged(contents: Contents): boolean {
    const now = this.current;
    const sameCa = contents.clientCa === undefined ? now.clientCa === undefined : now.clientCa !== undefined && contents.clientCa.equals(now.clientCa);
    return sameCa && contents.cert.equals(now.cert) && contents.key.equals(now.key);
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.options.log?.warn(
      { fingerprint: this.current.fingerprint, problem: message },
      'gRPC TLS files changed but are not usable yet; still serving the previous certificate',
    );
  }

  private recovered(): void {
    if (this.lastProblem === undefined) return;
    this.lastProblem = undefined;
    this.options.log?.info({ fingerprint: this.current.fingerprint }, 'gRPC TLS files are consistent again (unchanged)');
  }

  private startWatching(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.reload(), this.options.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_MS);
    this.timer.unref();
  }

  private maybeStopWatching(): void {
    if (this.identityListeners.size > 0 || this.caListeners.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface GrpcTls {
  readonly credentials: grpc.ServerCredentials;
  readonly provider: TlsCertificateProvider;
  close(): void;
}

/**
 * Server credentials for the configured `tls` block: TLS with the server certificate and key, and
 * with `clientCa` mutual TLS (a client certificate signed by that CA is required and verified).
 * Throws a TlsFileError (a ConfigError) when a file is unreadable or invalid.
 */
export function createGrpcTls(config: TlsConfig, options: { reloadIntervalMs?: number; log?: Logger } = {}): GrpcTls {
  const provider = new TlsCertificateProvider(config, options);
  // grpc-js 1.14 names the first parameter `caCertificateProvider` in its typings, but passes it on
  // as the *identity* provider (server-credentials.js); the second is the CA provider, and a null
  // CA provider means no client certificate is requested. The tls tests pin this behaviour.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider.mutualTls ? provider : null, provider.mutualTls);
  return { credentials, provider, close: () => provider.close() };
}
