import { z } from 'zod';
import { storableText } from '../../text.ts';
import { defineStep, StepError } from './step-type.ts';
import { render } from './templates.ts';

/** How much of an answer's body the step's output keeps, and how much an error message quotes. */
const OUTPUT_BODY_CHARS = 1_000;
const ERROR_BODY_CHARS = 200;

/**
 * Thrown by the http port when the target is one the outbound policy refuses (loopback, private,
 * link-local, metadata, …): nothing was sent. The message names the address and why.
 */
export class HttpTargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpTargetRefused';
  }
}

/** Headers the connection or the step itself sets: a workflow giving them would fail every run, or lie. */
const RESERVED_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'expect',
  'idempotency-key',
]);

/** A slice of text from outside (the answer of a server the tenant chose) that every read model can store. */
const quote = (text: string, max: number) => storableText(text.slice(0, max));

export const httpRequest = defineStep({
  type: 'http_request',
  summary:
    'Call a webhook (Idempotency-Key sent); 5xx, 429 and timeouts are retried, other 4xx and refused targets (loopback, private, metadata addresses) fail the step',
  templates: ['body'],
  freeText: ['body'],
  config: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
    headers: z
      .record(
        z
          .string()
          .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name (letters, digits and -)')
          .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), 'is set by NexusFlow or the connection, not by a workflow'),
        z.string().max(2_000),
      )
      .refine((headers) => Object.keys(headers).length <= 30, 'at most 30 headers')
      .default({}),
    /** A template; absent for POST/PUT/PATCH: the contact as JSON. */
    body: z.string().max(100_000).optional(),
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  }),
  async run(config, context) {
    const body =
      config.body !== undefined
        ? render(config.body, context.contact)
        : config.method === 'GET' || config.method === 'DELETE'
          ? undefined
          : JSON.stringify({ contact: context.contact, executionId: context.executionId });
    let answer: { status: number; body: string };
    try {
      answer = await context.ports.http.request({
        method: config.method,
        url: config.url,
        headers: { 'content-type': 'application/json', ...config.headers },
        ...(body !== undefined ? { body } : {}),
        timeoutMs: config.timeoutMs,
        idempotencyKey: context.idempotencyKey,
      });
    } catch (err) {
      // A refused target stays refused: retrying would only ask again.
      if (err instanceof HttpTargetRefused) throw new StepError(quote(err.message, 500), false, 'http_target_refused');
      throw new StepError(`request failed: ${quote((err as Error).message, 500)}`, true, 'http_unreachable');
    }
    if (answer.status >= 200 && answer.status < 300)
      return { kind: 'done', output: { status: answer.status, body: quote(answer.body, OUTPUT_BODY_CHARS) } };
    const retryable = answer.status >= 500 || answer.status === 429 || answer.status === 408;
    throw new StepError(`answered ${answer.status}: ${quote(answer.body, ERROR_BODY_CHARS)}`, retryable, `http_${answer.status}`);
  },
});
