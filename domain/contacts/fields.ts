/**
 * A contact's fields, declared once: name, kind and bounds. What else lists them is derived from this
 * declaration: the event data and the decider's state (`ContactFields`), the API's create and update bodies
 * and its answer (command-api/contacts, query-api/contacts), the read model's row and mapping
 * (projectors/contacts), the workflow runner's snapshot and its update step (domain/workflows), and which
 * fields hold personal data (domain/privacy). Each role turns a kind into its own validator or column, with
 * its own messages. The order is the order of the fields in answers and in /openapi.json.
 */
export const contactFieldSpecs = {
  /** The contact's identity: always present, unique among the live contacts of its organization. */
  email: { kind: 'email', personal: true },
  firstName: { kind: 'text', maxLength: 200, personal: true },
  lastName: { kind: 'text', maxLength: 200, personal: true },
  phone: { kind: 'text', maxLength: 50, personal: true },
  company: { kind: 'text', maxLength: 200, personal: true },
  title: { kind: 'text', maxLength: 200, personal: true },
  /** IANA time zone, used by workflows for send windows. */
  timezone: { kind: 'timeZone', personal: false },
  /** The organization's own fields: a string, number or boolean under a key it chooses. */
  customFields: { kind: 'custom', keyPattern: '[A-Za-z][A-Za-z0-9_]{0,63}', maxKeys: 100, maxTextLength: 2_000, personal: true },
} as const satisfies Record<string, ContactFieldSpec>;

export type ContactFieldSpec =
  /** Single-line text, or null (absent). */
  | { kind: 'text'; maxLength: number; personal: boolean }
  | { kind: 'email'; personal: boolean }
  | { kind: 'timeZone'; personal: boolean }
  /** `keyPattern`: a regular expression without anchors (conditions embed it in `customFields.<key>`). */
  | { kind: 'custom'; keyPattern: string; maxKeys: number; maxTextLength: number; personal: boolean };

export type ContactFieldKind = ContactFieldSpec['kind'];
export type ContactFieldName = keyof typeof contactFieldSpecs;
type KindOf<N extends ContactFieldName> = (typeof contactFieldSpecs)[N]['kind'];

/** Values a contact's custom fields may hold; null in an update removes the field. */
export type CustomFieldValue = string | number | boolean | null;

interface ValueOfKind {
  email: string;
  text: string | null;
  timeZone: string | null;
  custom: Record<string, Exclude<CustomFieldValue, null>>;
}

export type ContactFields = { -readonly [N in ContactFieldName]: ValueOfKind[KindOf<N>] };

export const contactFieldNames = Object.keys(contactFieldSpecs) as ContactFieldName[];

/** What creating a contact takes: the email, any other field (absent or null: empty), tags. */
export type NewContact = Pick<ContactFields, 'email'> & Partial<Omit<ContactFields, 'email'>> & { tags?: string[] };

/** The fields of a new contact, the ones not given empty (null; no custom fields). */
export function contactFieldsOf(input: NewContact): ContactFields {
  const fields: Record<string, unknown> = {};
  for (const name of contactFieldNames) fields[name] = input[name] ?? (contactFieldSpecs[name].kind === 'custom' ? {} : null);
  return fields as ContactFields;
}

/** The contact fields of `source` (a state, a row), in declaration order, without anything else it holds. */
export function pickContactFields(source: ContactFields): ContactFields {
  const fields: Record<string, unknown> = {};
  for (const name of contactFieldNames) fields[name] = source[name];
  return fields as ContactFields;
}

type Builders<N extends ContactFieldName> = {
  [K in KindOf<N>]: (spec: Extract<ContactFieldSpec, { kind: K }>, name: N) => unknown;
};

/**
 * One entry per field (all, or `names`), made by the builder of its kind: how a role derives its schema,
 * columns or validators from the declaration. Typed per field, so a zod object built from it infers.
 */
export function mapContactFields<N extends ContactFieldName, B extends Builders<N>>(
  names: readonly N[],
  builders: B,
): { [F in N]: B[KindOf<F>] extends (...args: never[]) => infer R ? R : never } {
  const shape: Record<string, unknown> = {};
  for (const name of names) {
    const spec = contactFieldSpecs[name];
    shape[name] = (builders[spec.kind as KindOf<N>] as (spec: ContactFieldSpec, name: N) => unknown)(spec, name);
  }
  return shape as { [F in N]: B[KindOf<F>] extends (...args: never[]) => infer R ? R : never };
}

/** Anchored pattern of a custom field's key. */
export const customFieldKeyPattern = new RegExp(`^${contactFieldSpecs.customFields.keyPattern}$`);
