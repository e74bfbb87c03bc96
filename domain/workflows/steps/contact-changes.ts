import { z } from 'zod';
import { isTimeZone } from '../time.ts';
import { defineStep } from './step-type.ts';

const tag = z.string().trim().min(1).max(64);
const text = (max: number) => z.string().trim().min(1).max(max).nullable().optional();

export const updateContact = defineStep({
  type: 'update_contact',
  summary: 'Change fields of the contact (merge-patch: null clears a field); the email is not changed by workflows',
  config: z.strictObject({
    changes: z
      .strictObject({
        firstName: text(200),
        lastName: text(200),
        phone: text(50),
        company: text(200),
        title: text(200),
        timezone: z.string().refine(isTimeZone, 'must be an IANA time zone').nullable().optional(),
        customFields: z
          .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/), z.union([z.string().max(2_000), z.number(), z.boolean(), z.null()]))
          .refine((fields) => Object.keys(fields).length <= 100, 'at most 100 custom fields')
          .optional(),
      })
      .refine((changes) => Object.keys(changes).length > 0, 'must change at least one field'),
  }),
  async run(config, context) {
    await context.ports.contacts.update(config.changes);
    return { kind: 'done', output: { changed: Object.keys(config.changes) } };
  },
});

export const addTag = defineStep({
  type: 'add_tag',
  summary: 'Tag the contact',
  config: z.strictObject({ tag }),
  async run(config, context) {
    await context.ports.contacts.changeTags({ add: [config.tag], remove: [] });
    return { kind: 'done', output: { tag: config.tag } };
  },
});

export const removeTag = defineStep({
  type: 'remove_tag',
  summary: 'Remove a tag from the contact',
  config: z.strictObject({ tag }),
  async run(config, context) {
    await context.ports.contacts.changeTags({ add: [], remove: [config.tag] });
    return { kind: 'done', output: { tag: config.tag } };
  },
});
