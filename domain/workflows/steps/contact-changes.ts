import { z } from 'zod';
import { defineStep } from './step-type.ts';

const tag = z.string().trim().min(1).max(64);

export const updateContact = defineStep({
  type: 'update_contact',
  summary: 'Change fields of the contact (merge-patch: null clears a field)',
  config: z.strictObject({
    changes: z
      .record(
        z.string().regex(/^(firstName|lastName|phone|company|title|timezone|customFields)$/, 'must be a contact field'),
        z.unknown(),
      )
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
