import { z } from 'zod';
import { defineStep } from './step-type.ts';

export const aiComposeEmail = defineStep({
  type: 'ai_compose_email',
  summary: 'Have the AI write an email to the contact from instructions, and send it',
  sends: true,
  freeText: ['instructions'],
  config: z.strictObject({
    instructions: z.string().min(1, 'must not be empty').max(4_000),
  }),
  async run(config, context) {
    const composed = await context.ports.ai.composeEmail({
      organizationId: context.organizationId,
      executionId: context.executionId,
      contact: context.contact,
      instructions: config.instructions,
      idempotencyKey: context.idempotencyKey,
    });
    const { messageId } = await context.ports.email.send({
      from: context.settings.mailbox,
      to: context.contact.email,
      subject: composed.subject,
      text: composed.text,
      idempotencyKey: context.idempotencyKey,
    });
    return { kind: 'done', output: { messageId, subject: composed.subject, model: composed.model, tokens: composed.tokens } };
  },
});
