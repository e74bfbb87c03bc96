import { z } from 'zod';
import { emailField, textField, timeZoneField } from '../../infra/http/fields.ts';

const customFieldKey = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter and use letters, digits or _ (at most 64)');
const customFieldValue = z.union([z.string().max(2_000), z.number().finite(), z.boolean()], {
  error: 'must be a string (at most 2000 characters), a number or a boolean',
});
const tag = textField(64);
const tags = z.array(tag, { error: 'must be an array of strings' }).max(50, 'at most 50 tags at once');

const optionalText = (max: number) => textField(max).nullable().optional();

export const createContactBody = z.strictObject({
  email: emailField,
  firstName: optionalText(200),
  lastName: optionalText(200),
  phone: optionalText(50),
  company: optionalText(200),
  title: optionalText(200),
  timezone: timeZoneField.nullable().optional(),
  customFields: z
    .record(customFieldKey, customFieldValue)
    .refine((fields) => Object.keys(fields).length <= 100, 'at most 100 custom fields')
    .optional(),
  tags: tags.optional(),
});

/** JSON merge-patch semantics: an absent field is unchanged, null clears it (custom fields: null removes the key). */
export const updateContactBody = z
  .strictObject({
    email: emailField.optional(),
    firstName: optionalText(200),
    lastName: optionalText(200),
    phone: optionalText(50),
    company: optionalText(200),
    title: optionalText(200),
    timezone: timeZoneField.nullable().optional(),
    customFields: z
      .record(customFieldKey, customFieldValue.nullable())
      .refine((fields) => Object.keys(fields).length <= 100, 'at most 100 custom fields')
      .optional(),
  })
  .refine((body) => Object.keys(body).length > 0, 'must change at least one field');

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
