import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env['SCALER_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { service: 'keda-llm-scaler' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing, for embedding the scaler where its logs are not wanted. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Logs a failure once when its cause first appears for a subject and once when the subject
 * recovers, so that a worker failing every second does not flood the log.
 */
export class FailureLog {
  private readonly active = new Map<string, string>();

  constructor(private readonly log: Logger) {}

  failed(subject: string, cause: string, message: string, context: Record<string, unknown> = {}): void {
    if (this.active.get(subject) === cause) return;
    this.active.set(subject, cause);
    this.log.warn({ ...context, subject, cause }, message);
  }

  recovered(subject: string, context: Record<string, unknown> = {}): void {
    const cause = this.active.get(subject);
    if (cause === undefined) return;
    this.active.delete(subject);
    this.log.info({ ...context, subject, previousCause: cause }, 'recovered');
  }

  forget(subject: string): void {
    this.active.delete(subject);
  }
}
