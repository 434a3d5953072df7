/**
 * A minimal gRPC-over-HTTP/2 unary caller on node:http2, for load generation only.
 *
 * grpc-js's client costs about twice as much CPU per call as its server, so with one core for
 * the load generator and one for the server, a grpc-js-driven closed loop measures the client,
 * not the server. This caller sends pre-encoded requests and reads nothing but the status, which
 * makes the server the bottleneck, so the scaler/baseline throughput ratio means something.
 */
import http2 from 'node:http2';

/** Length-prefixed gRPC message: 1 byte compressed flag (0), 4 bytes big-endian length, body. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

export class RawGrpcClient {
  private readonly session: http2.ClientHttp2Session;

  private constructor(session: http2.ClientHttp2Session) {
    this.session = session;
  }

  static connect(host: string, port: number): Promise<RawGrpcClient> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${host}:${port}`);
      session.once('error', reject);
      session.once('connect', () => {
        session.off('error', reject);
        session.on('error', () => undefined); // reported per stream
        resolve(new RawGrpcClient(session));
      });
    });
  }

  /** Calls `path` with an encoded frame; `done` receives the gRPC status code (-1 if none came). */
  unary(path: string, frame: Buffer, done: (code: number) => void): void {
    const stream = this.session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let code = -1;
    // Trailers-only answers (errors) carry the status in the headers.
    stream.on('response', (headers) => {
      const status = headers['grpc-status'];
      if (status !== undefined) code = Number(status);
    });
    stream.on('trailers', (trailers) => {
      code = Number(trailers['grpc-status']);
    });
    stream.on('error', () => undefined);
    stream.on('close', () => done(code));
    stream.resume();
    stream.end(frame);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.session.close(() => resolve()));
  }
}
