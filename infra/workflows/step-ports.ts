import { createHash } from 'node:crypto';
import type { Mailer } from '../../command-api/ports.ts';
import type { ContactSnapshot, StepPorts } from '../../domain/workflows/steps/step-type.ts';

const MAX_RESPONSE_BODY = 64 * 1024;

/** Workflow email through the mail port, deduplicated on the step's idempotency key. */
export function mailerEmailPort(mailer: Mailer): StepPorts['email'] {
  return {
    async send(message) {
      await mailer.send({
        to: message.to,
        from: message.from,
        subject: message.subject,
        text: message.text,
        template: 'workflow',
        idempotencyKey: message.idempotencyKey,
      });
      return { messageId: createHash('sha256').update(message.idempotencyKey).digest('hex').slice(0, 32) };
    },
  };
}

/** Webhooks over fetch, with the timeout as an abort and the step's key as Idempotency-Key. */
export const fetchHttpPort: StepPorts['http'] = {
  async request({ method, url, headers, body, timeoutMs, idempotencyKey }) {
    const response = await fetch(url, {
      method,
      headers: { 'user-agent': 'NexusFlow-Workflows/1', ...headers, 'idempotency-key': idempotencyKey },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    const text = (await response.text()).slice(0, MAX_RESPONSE_BODY);
    return { status: response.status, body: text };
  },
};

/**
 * The AI port's offline default (until the AI issue plugs in a model): a deterministic composition from the
 * instructions and the contact, so workflows with AI steps run anywhere, tests included.
 */
export const offlineComposer: StepPorts['ai'] = {
  async composeEmail({ contact, instructions }) {
    const name = contact.firstName ?? contact.email.split('@')[0]!;
    const subject = `A note for ${name}${contact.company ? ` at ${contact.company}` : ''}`;
    const text = `Hi ${name},\n\n${instructions.trim()}\n\nBest regards`;
    return { subject, text, model: 'offline-template', tokens: Math.ceil((subject.length + text.length) / 4) };
  },
};

/**
 * The CRM port's default with no CRM connected: the action is accepted and recorded under a stable
 * reference derived from the idempotency key (the CRM integrations issue replaces it).
 */
export const offlineCrm: StepPorts['crm'] = {
  async perform({ provider, action, idempotencyKey }) {
    return { reference: `offline:${provider}:${action}:${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 16)}` };
  },
};

export type { ContactSnapshot };
