import type { Metrics } from '../observability/metrics.ts';
import { createHash } from 'node:crypto';
import type { Mailer } from '../../command-api/ports.ts';
import { HttpTargetRefused } from '../../domain/workflows/steps/http-request.ts';
import type { ContactSnapshot, StepPorts } from '../../domain/workflows/steps/step-type.ts';
import { OutboundRefusedError, type GuardedHttpClient } from '../outbound/guarded-http.ts';

/** The step keeps at most 1,000 characters of an answer: a few KiB of it are plenty. */
const MAX_RESPONSE_BODY = 16 * 1024;

/** Workflow email through the mail port, deduplicated on the step's idempotency key. */
export function mailerEmailPort(mailer: Mailer): StepPorts['email'] {
  return {
    async send(message) {
      await mailer.send({
        to: message.to,
        from: message.from,
        // A header is one line, whatever a template rendered (data saved before the text rule could hold a break).
        subject: message.subject.replace(/[\r\n\u0085\u2028\u2029]+/g, ' '),
        text: message.text,
        template: 'workflow',
        idempotencyKey: message.idempotencyKey,
      });
      return { messageId: createHash('sha256').update(message.idempotencyKey).digest('hex').slice(0, 32) };
    },
  };
}

/**
 * Webhooks through the guarded outbound client (a tenant chooses the URL: no loopback, private or metadata
 * address unless the operator's allow-list opens it), with the step's key as Idempotency-Key. A refused
 * target is reported as HttpTargetRefused; the answer's body comes back bounded and decoded as UTF-8.
 */
export function guardedHttpPort(client: GuardedHttpClient, metrics?: Metrics): StepPorts['http'] {
  return {
    async request({ method, url, headers, body, timeoutMs, idempotencyKey }) {
      const timer = metrics?.outboundDuration.startTimer({ target: 'webhook' });
      let outcome = 'failed';
      // Header names are case-insensitive: the step's key replaces whatever the configuration spelt.
      const sent: Record<string, string> = { 'user-agent': 'NexusFlow-Workflows/1' };
      for (const [name, value] of Object.entries(headers)) sent[name.toLowerCase()] = value;
      sent['idempotency-key'] = idempotencyKey;
      try {
        const response = await client.request({
          method,
          url,
          headers: sent,
          ...(body !== undefined ? { body } : {}),
          timeoutMs,
          maxResponseBytes: MAX_RESPONSE_BODY,
        });
        outcome = `${Math.floor(response.status / 100)}xx`;
        return { status: response.status, body: new TextDecoder().decode(response.body) };
      } catch (err) {
        if (err instanceof OutboundRefusedError) {
          outcome = 'refused';
          throw new HttpTargetRefused(err.message);
        }
        throw err;
      } finally {
        timer?.({ outcome });
      }
    },
  };
}

export type { ContactSnapshot };
