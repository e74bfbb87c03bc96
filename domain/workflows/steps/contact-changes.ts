import { z } from 'zod';
import { contactFieldNames, customFieldKeyPattern, mapContactFields, type ContactFieldName } from '../../contacts/fields.ts';
import { isTimeZone } from '../time.ts';
import { defineStep } from './step-type.ts';

const tag = z.string().trim().min(1).max(64);

/** The fields a workflow may change: the contact's (domain/contacts/fields.ts) but the email. */
const changeableFields = contactFieldNames.filter((name): name is Exclude<ContactFieldName, 'email'> => name !== 'email');
const changes = mapContactFields(changeableFields, {
  text: (spec) => z.string().trim().min(1).max(spec.maxLength).nullable().optional(),
  timeZone: () => z.string().refine(isTimeZone, 'must be an IANA time zone').nullable().optional(),
  custom: (spec) =>
    z
      .record(z.string().regex(customFieldKeyPattern), z.union([z.string().max(spec.maxTextLength), z.number(), z.boolean(), z.null()]))
      .refine((fields) => Object.keys(fields).length <= spec.maxKeys, `at most ${spec.maxKeys} custom fields`)
      .optional(),
});

export const updateContact = defineStep({
  type: 'update_contact',
  logOnly: true,
  summary: 'Change fields of the contact (merge-patch: null clears a field); the email is not changed by workflows',
  config: z.strictObject({
    changes: z.strictObject(changes).refine((changes) => Object.keys(changes).length > 0, 'must change at least one field'),
  }),
  async run(config, context) {
    await context.ports.contacts.update(config.changes);
    return { kind: 'done', output: { changed: Object.keys(config.changes) } };
  },
});

export const addTag = defineStep({
  type: 'add_tag',
  logOnly: true,
  summary: 'Tag the contact',
  config: z.strictObject({ tag }),
  async run(config, context) {
    await context.ports.contacts.changeTags({ add: [config.tag], remove: [] });
    return { kind: 'done', output: { tag: config.tag } };
  },
});

export const removeTag = defineStep({
  type: 'remove_tag',
  logOnly: true,
  summary: 'Remove a tag from the contact',
  config: z.strictObject({ tag }),
  async run(config, context) {
    await context.ports.contacts.changeTags({ add: [], remove: [config.tag] });
    return { kind: 'done', output: { tag: config.tag } };
  },
});
