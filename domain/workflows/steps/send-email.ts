import { z } from 'zod';
import { defineStep } from './step-type.ts';
import { render } from './templates.ts';

export const sendEmail = defineStep({
  type: 'send_email',
  summary: 'Send an email to the contact, from the workflow mailbox; {{contact.field}} placeholders are filled in',
  sends: true,
  templates: ['subject', 'body'],
  freeText: ['body'],
  config: z.strictObject({
    subject: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(500),
    body: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(50_000),
  }),
  async run(config, context) {
    const subject = render(config.subject, context.contact);
    const text = render(config.body, context.contact);
    const { messageId } = await context.ports.email.send({
      from: context.settings.mailbox,
      to: context.contact.email,
      subject,
      text,
      idempotencyKey: context.idempotencyKey,
    });
    return { kind: 'done', output: { messageId, to: context.contact.email, subject } };
  },
});
