import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';
import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * pino JSON logs for every Lifeboat process. Secrets never reach a log line: any field named
 * like a key, token or password is replaced, at the top level and one or two levels down.
 */
const SECRET_FIELDS = [
  'password',
  'passphrase',
  'token',
  'accessToken',
  'apiKey',
  'api_key',
  'secret',
  'key',
  'privateKey',
  'authorization',
  'cookie',
];

export const REDACT_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);

export function createLogger(
  bindings: Record<string, string> = {},
  opts: { level?: string; destination?: DestinationStream } = {},
): Logger {
  const options = {
    level: opts.level ?? process.env.LIFEBOAT_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...bindings },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The SDK's Logger interface on top of pino, so the SDK's own (and Core's forwarded) logs are pino JSON. */
export class PinoSdkLogger implements SdkLogger {
  constructor(private readonly logger: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    // Core's forwarded records carry symbol keys; only plain string keys are useful in JSON.
    const fields: Record<string, unknown> = {};
    if (meta) for (const k of Object.keys(meta)) fields[k] = meta[k];
    this.logger[PINO_LEVEL[level]]({ sdk: true, ...fields }, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}
