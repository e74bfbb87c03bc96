import { z } from 'zod';
import { defineStep, StepError } from './step-type.ts';
import { render } from './templates.ts';

export const httpRequest = defineStep({
  type: 'http_request',
  summary: 'Call a webhook (Idempotency-Key sent); 5xx, 429 and timeouts are retried, other 4xx fail the step',
  config: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('POST'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/), z.string().max(2_000)).default({}),
    /** A template; absent for POST/PUT/PATCH: the contact as JSON. */
    body: z.string().max(100_000).optional(),
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
  }),
  async run(config, context) {
    const body = config.body !== undefined ? render(config.body, context.contact) : config.method === 'GET' || config.method === 'DELETE' ? undefined : JSON.stringify({ contact: context.contact, executionId: context.executionId });
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
      throw new StepError(`request failed: ${(err as Error).message}`, true, 'http_unreachable');
    }
    if (answer.status >= 200 && answer.status < 300) return { kind: 'done', output: { status: answer.status, body: answer.body.slice(0, 2_000) } };
    const retryable = answer.status >= 500 || answer.status === 429 || answer.status === 408;
    throw new StepError(`answered ${answer.status}: ${answer.body.slice(0, 200)}`, retryable, `http_${answer.status}`);
  },
});
