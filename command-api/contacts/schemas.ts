import { z } from 'zod';
import { contactFieldNames, customFieldKeyPattern, mapContactFields, type ContactFieldSpec } from '../../domain/contacts/fields.ts';
import { emailField, textField, timeZoneField } from '../../infra/http/fields.ts';

const customFieldKey = z.string().regex(customFieldKeyPattern, 'must start with a letter and use letters, digits or _ (at most 64)');
const customFieldValue = (spec: Extract<ContactFieldSpec, { kind: 'custom' }>) =>
  z.union([z.string().max(spec.maxTextLength), z.number().finite(), z.boolean()], {
    error: `must be a string (at most ${spec.maxTextLength} characters), a number or a boolean`,
  });
const customFields = <V extends z.ZodType>(spec: Extract<ContactFieldSpec, { kind: 'custom' }>, value: V) =>
  z.record(customFieldKey, value).refine((fields) => Object.keys(fields).length <= spec.maxKeys, `at most ${spec.maxKeys} custom fields`);

const tag = textField(64);
const tags = z.array(tag, { error: 'must be an array of strings' }).max(50, 'at most 50 tags at once');

/** The contact's fields as a create body takes them (domain/contacts/fields.ts): the email, the rest optional. */
const createFields = mapContactFields(contactFieldNames, {
  email: () => emailField,
  text: (spec) => textField(spec.maxLength).nullable().optional(),
  timeZone: () => timeZoneField.nullable().optional(),
  custom: (spec) => customFields(spec, customFieldValue(spec)).optional(),
});

/** As a merge-patch takes them: each optional, null clears (a custom field: null removes its key). */
const updateFields = mapContactFields(contactFieldNames, {
  email: () => emailField.optional(),
  text: (spec) => textField(spec.maxLength).nullable().optional(),
  timeZone: () => timeZoneField.nullable().optional(),
  custom: (spec) => customFields(spec, customFieldValue(spec).nullable()).optional(),
});

export const createContactBody = z.strictObject({ ...createFields, tags: tags.optional() });

/** JSON merge-patch semantics: an absent field is unchanged, null clears it (custom fields: null removes the key). */
export const updateContactBody = z.strictObject(updateFields).refine((body) => Object.keys(body).length > 0, 'must change at least one field');

export const changeTagsBody = z
  .strictObject({ add: tags.optional(), remove: tags.optional() })
  .refine((body) => (body.add?.length ?? 0) + (body.remove?.length ?? 0) > 0, 'must add or remove at least one tag')
  .refine((body) => !body.remove?.some((tag) => body.add?.includes(tag)), {
    message: 'must not name a tag that is also in add',
    path: ['remove'],
  });

export const createContactExample = {
  email: 'ada@example.com',
  firstName: 'Ada',
  lastName: 'Lovelace',
  company: 'Analytical Engines Ltd',
  title: 'Head of Research',
  timezone: 'Europe/London',
  customFields: { leadScore: 87, source: 'webinar' },
  tags: ['vip', 'q4-campaign'],
};
