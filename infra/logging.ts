import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one object per line; pipe through `pino-pretty` to read them locally. */
export function createLogger(options: { level: string; service: string }): Logger {
  return pino({
    level: options.level,
    base: { service: options.service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'passwordHash', '*.passwordHash', 'req.headers.authorization'],
      censor: '[redacted]',
    },
    serializers: { err: pino.stdSerializers.err },
  });
}
