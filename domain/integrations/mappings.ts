import type { InvalidParam } from '../errors.ts';
import { contactFieldNames, contactFieldSpecs, customFieldKeyPattern, type ContactFieldKind } from '../contacts/fields.ts';
import { textProblem } from '../text.ts';
import { instantMs, isCalendarDate, ISO_INSTANT, type FieldValue } from './values.ts';

/**
 * Field mappings: which of our contact fields travels to which provider field, in which direction, with
 * which transform. The provider's side is only known from its describe call (I/O, done by the adapter), so
 * validation takes the described fields as an argument; `mappingShapeProblems` is the part that needs none
 * (the decider runs it on every SetMappings, whatever the route already checked).
 */
export type MappingDirection = 'in' | 'out' | 'both';
export type ConflictPolicy = 'ours' | 'theirs' | 'most_recent';
export type DateFormat = 'iso-date' | 'iso-datetime' | 'epoch-ms';

export type Transform =
  | { kind: 'trim' }
  | { kind: 'lower' }
  /** The provider's representation of a date; our side holds ISO text (YYYY-MM-DD for iso-date, an ISO instant in UTC otherwise). */
  | { kind: 'date'; format: DateFormat }
  /** Our value → the provider's picklist value; inbound uses it reversed. */
  | { kind: 'picklist'; values: Record<string, string> };

export interface FieldMapping {
  /** Our contact field: a field name (`email`, `firstName`, …) or `customFields.<key>`. */
  ours: string;
  /** The provider's field (API) name. */
  theirs: string;
  direction: MappingDirection;
  transform?: Transform;
  /** Only for two-way mappings; the integration's default applies when absent. */
  conflictPolicy?: ConflictPolicy;
}

export type ProviderFieldType = 'string' | 'email' | 'phone' | 'date' | 'datetime' | 'number' | 'boolean' | 'picklist';

/** One field of the provider's describe answer. */
export interface DescribedField {
  name: string;
  type: ProviderFieldType;
  updateable: boolean;
  picklistValues?: string[];
}

/** A problem named the way the route reports it (`mappings[3].theirs`), with a stable code. */
export interface MappingProblem extends InvalidParam {
  code: string;
}

export const MAX_MAPPINGS = 500;
export const MAX_PICKLIST_ENTRIES = 1_000;
const MAX_NAME_LENGTH = 255;

const writesOurs = (direction: MappingDirection) => direction !== 'out';
const writesTheirs = (direction: MappingDirection) => direction !== 'in';

/** The kind of one of our fields, or null when `ours` names none (a custom field's key must match its pattern). */
export function ourFieldKind(ours: string): ContactFieldKind | null {
  if (ours.startsWith('customFields.')) return customFieldKeyPattern.test(ours.slice('customFields.'.length)) ? 'custom' : null;
  if (ours === 'customFields') return null;
  return (contactFieldNames as string[]).includes(ours) ? contactFieldSpecs[ours as keyof typeof contactFieldSpecs].kind : null;
}

/** Everything that can be checked without the provider: caps, text, our fields, duplicate writers, transforms' own shape. */
export function mappingShapeProblems(mappings: readonly FieldMapping[]): MappingProblem[] {
  if (mappings.length > MAX_MAPPINGS) return [{ name: 'mappings', reason: `at most ${MAX_MAPPINGS} mappings`, code: 'too_many_mappings' }];
  const problems: MappingProblem[] = [];
  mappings.forEach((mapping, index) => problems.push(...ownProblems(mapping, `mappings[${index}]`)));
  problems.push(...duplicateWriters(mappings));
  return problems;
}

function ownProblems(mapping: FieldMapping, at: string): MappingProblem[] {
  if (mapping === null || typeof mapping !== 'object') return [{ name: at, reason: 'must be a mapping', code: 'invalid_mapping' }];
  const problems: MappingProblem[] = [];
  for (const side of ['ours', 'theirs'] as const) {
    const text = nameProblem(mapping[side]);
    if (text) problems.push({ name: `${at}.${side}`, reason: text, code: 'invalid_text' });
  }
  if (!problems.some((p) => p.name === `${at}.ours`) && ourFieldKind(mapping.ours) === null)
    problems.push({ name: `${at}.ours`, reason: `${mapping.ours} is not a contact field`, code: 'unknown_field' });
  if (!['in', 'out', 'both'].includes(mapping.direction))
    problems.push({ name: `${at}.direction`, reason: 'must be in, out or both', code: 'invalid_direction' });
  if (mapping.conflictPolicy !== undefined && mapping.direction !== 'both')
    problems.push({ name: `${at}.conflictPolicy`, reason: 'only a two-way (both) mapping can have conflicts', code: 'policy_not_two_way' });
  if (mapping.transform) problems.push(...transformShapeProblems(mapping, `${at}.transform`));
  return problems;
}

function nameProblem(name: string): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'must not be empty';
  if (name.length > MAX_NAME_LENGTH) return `at most ${MAX_NAME_LENGTH} characters`;
  return textProblem(name, 'single-line');
}

function transformShapeProblems(mapping: FieldMapping, at: string): MappingProblem[] {
  const transform = mapping.transform!;
  if (transform.kind === 'date' && !['iso-date', 'iso-datetime', 'epoch-ms'].includes(transform.format))
    return [{ name: `${at}.format`, reason: 'must be iso-date, iso-datetime or epoch-ms', code: 'invalid_transform' }];
  if (transform.kind !== 'picklist') return [];
  if (transform.values === null || typeof transform.values !== 'object')
    return [{ name: `${at}.values`, reason: "must map our values to the provider's", code: 'invalid_transform' }];
  const entries = Object.entries(transform.values);
  if (entries.length === 0 || entries.length > MAX_PICKLIST_ENTRIES)
    return [{ name: `${at}.values`, reason: `needs 1 to ${MAX_PICKLIST_ENTRIES} values`, code: 'invalid_transform' }];
  const problems: MappingProblem[] = [];
  const owners = new Map<string, string>();
  for (const [ours, theirs] of entries) {
    const text = nameProblem(ours) ?? nameProblem(theirs);
    if (text) problems.push({ name: `${at}.values.${ours}`, reason: text, code: 'invalid_text' });
    // Inbound reads the table backwards: two of our values for one of theirs would leave the choice to chance.
    const owner = owners.get(theirs);
    if (owner !== undefined && writesOurs(mapping.direction))
      problems.push({
        name: `${at}.values.${ours}`,
        reason: `${theirs} is already the value of ${owner}; inbound needs one-to-one values`,
        code: 'ambiguous_picklist',
      });
    owners.set(theirs, ours);
  }
  return problems;
}

/**
 * Two mappings that would write the same field: on our side, two inbound writers of one contact field; on
 * theirs, two outbound writers of one provider field. Which would win would depend on order, so refuse.
 * Reported on the later mapping, naming the earlier.
 */
function duplicateWriters(mappings: readonly FieldMapping[]): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const inbound = new Map<string, number>();
  const outbound = new Map<string, number>();
  mappings.forEach((mapping, index) => {
    if (mapping === null || typeof mapping !== 'object') return;
    if (writesOurs(mapping.direction)) {
      const earlier = inbound.get(mapping.ours);
      if (earlier !== undefined)
        problems.push({ name: `mappings[${index}].ours`, reason: `mappings[${earlier}] already writes ${mapping.ours}`, code: 'duplicate_writer' });
      else inbound.set(mapping.ours, index);
    }
    if (writesTheirs(mapping.direction)) {
      const earlier = outbound.get(mapping.theirs);
      if (earlier !== undefined)
        problems.push({
          name: `mappings[${index}].theirs`,
          reason: `mappings[${earlier}] already writes ${mapping.theirs}`,
          code: 'duplicate_writer',
        });
      else outbound.set(mapping.theirs, index);
    }
  });
  return problems;
}

/** Which provider types can fill which of our kinds (a number or a yes/no only fits a custom field). */
const compatibleTypes: Record<ContactFieldKind, readonly ProviderFieldType[]> = {
  email: ['email', 'string'],
  text: ['string', 'email', 'phone', 'picklist', 'date', 'datetime'],
  timeZone: ['string', 'picklist'],
  custom: ['string', 'email', 'phone', 'picklist', 'date', 'datetime', 'number', 'boolean'],
};

/**
 * All problems of a mapping list against the provider's described fields, each naming its path and why.
 * Empty: the list can be saved.
 */
export function validateMappings(mappings: readonly FieldMapping[], describedFields: readonly DescribedField[]): MappingProblem[] {
  const problems = mappingShapeProblems(mappings);
  if (mappings.length > MAX_MAPPINGS) return problems;
  const described = new Map(describedFields.map((field) => [field.name, field]));
  mappings.forEach((mapping, index) => mapping && problems.push(...providerProblems(mapping, described.get(mapping.theirs), `mappings[${index}]`)));
  return problems;
}

function providerProblems(mapping: FieldMapping, field: DescribedField | undefined, at: string): MappingProblem[] {
  if (!field) return [{ name: `${at}.theirs`, reason: `the provider has no field ${mapping.theirs}`, code: 'unknown_provider_field' }];
  const problems: MappingProblem[] = [];
  if (writesTheirs(mapping.direction) && !field.updateable)
    problems.push({ name: `${at}.direction`, reason: `${field.name} is read-only at the provider; use in`, code: 'not_updateable' });
  const kind = ourFieldKind(mapping.ours);
  if (kind && !mapping.transform && !compatibleTypes[kind].includes(field.type))
    problems.push({ name: `${at}.theirs`, reason: `a ${field.type} field cannot hold ${mapping.ours}`, code: 'type_mismatch' });
  if (mapping.transform) problems.push(...transformFitProblems(mapping.transform, field, `${at}.transform`));
  return problems;
}

function transformFitProblems(transform: Transform, field: DescribedField, at: string): MappingProblem[] {
  switch (transform.kind) {
    case 'trim':
    case 'lower':
      return ['number', 'boolean'].includes(field.type)
        ? [{ name: at, reason: `${transform.kind} applies to text, ${field.name} is a ${field.type}`, code: 'transform_mismatch' }]
        : [];
    case 'date': {
      // epoch-ms: some providers (HubSpot) keep dates as milliseconds in a number or datetime field.
      const fits = transform.format === 'epoch-ms' ? ['date', 'datetime', 'number'] : ['date', 'datetime', 'string'];
      return fits.includes(field.type) ? [] : [{ name: at, reason: `${field.name} is a ${field.type}, not a date`, code: 'transform_mismatch' }];
    }
    case 'picklist': {
      if (field.type !== 'picklist') return [{ name: at, reason: `${field.name} is not a picklist`, code: 'transform_mismatch' }];
      const allowed = new Set(field.picklistValues ?? []);
      return Object.entries(transform.values)
        .filter(([, theirs]) => !allowed.has(theirs))
        .map(([ours, theirs]) => ({
          name: `${at}.values.${ours}`,
          reason: `${theirs} is not a value of ${field.name}`,
          code: 'unknown_picklist_value',
        }));
    }
    default: {
      const unknown: never = transform;
      return unknown;
    }
  }
}

/** A transform that could not convert a value: the record is rejected for that field, never thrown. */
export interface TransformFailure {
  code: 'not_text' | 'invalid_date' | 'unmapped_picklist_value';
  reason: string;
}
export type TransformResult = { ok: true; value: FieldValue } | { ok: false; failure: TransformFailure };

const ok = (value: FieldValue): TransformResult => ({ ok: true, value });
const fail = (code: TransformFailure['code'], reason: string): TransformResult => ({ ok: false, failure: { code, reason } });

/**
 * A value converted for the other side: 'in' turns the provider's value into ours, 'out' ours into theirs.
 * Total: every input gives a value or a typed failure. Null (empty) stays null, so clearing a field travels.
 */
export function applyTransform(transform: Transform | undefined, value: FieldValue, direction: 'in' | 'out'): TransformResult {
  if (!transform || value === null) return ok(value);
  switch (transform.kind) {
    case 'trim':
      return typeof value === 'string' ? ok(value.trim()) : fail('not_text', `expected text, got ${typeof value}`);
    case 'lower':
      return typeof value === 'string' ? ok(value.toLowerCase()) : fail('not_text', `expected text, got ${typeof value}`);
    case 'date':
      return direction === 'in' ? dateIn(transform.format, value) : dateOut(transform.format, value);
    case 'picklist':
      return picklist(transform.values, value, direction);
    default: {
      const unknown: never = transform;
      return unknown;
    }
  }
}

/** The provider's date as ours: YYYY-MM-DD for a date format, an ISO instant in UTC otherwise. */
function dateIn(format: DateFormat, value: FieldValue): TransformResult {
  if (format === 'iso-date')
    return typeof value === 'string' && isCalendarDate(value) ? ok(value) : fail('invalid_date', `expected YYYY-MM-DD, got ${preview(value)}`);
  const ms = format === 'epoch-ms' ? epochMs(value) : typeof value === 'string' ? instantMs(value) : null;
  return ms === null ? fail('invalid_date', `expected ${format}, got ${preview(value)}`) : ok(new Date(ms).toISOString());
}

/** Our date text in the provider's format. A full instant sent to a date field keeps its UTC day. */
function dateOut(format: DateFormat, value: FieldValue): TransformResult {
  if (typeof value !== 'string') return fail('invalid_date', `expected ISO date text, got ${preview(value)}`);
  const ms = isCalendarDate(value) ? Date.parse(`${value}T00:00:00Z`) : ISO_INSTANT.test(value) ? instantMs(value) : null;
  if (ms === null) return fail('invalid_date', `expected an ISO date or instant, got ${preview(value)}`);
  if (format === 'epoch-ms') return ok(ms);
  const iso = new Date(ms).toISOString();
  return ok(format === 'iso-date' ? iso.slice(0, 10) : iso);
}

/** Milliseconds from a number or a digits-only text (providers send both); only whole, plausible instants. */
function epochMs(value: FieldValue): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && Math.abs(n) <= 8.64e15 ? n : null;
}

function picklist(values: Record<string, string>, value: FieldValue, direction: 'in' | 'out'): TransformResult {
  const key = String(value);
  if (direction === 'out') {
    return Object.hasOwn(values, key) ? ok(values[key]!) : fail('unmapped_picklist_value', `${preview(value)} has no provider value`);
  }
  const match = Object.entries(values).find(([, theirs]) => theirs === key);
  return match ? ok(match[0]) : fail('unmapped_picklist_value', `${preview(value)} has no value of ours`);
}

/** A short, quoted view of a value for a failure's reason (values can be long; reasons end up in events). */
function preview(value: FieldValue): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Our fields whose mappings differ between two lists: what a re-sync after SetMappings has to visit. */
export interface MappingDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * Compares two lists by our field: added (newly mapped), removed (no longer mapped), changed (mapped
 * differently: another provider field, direction, transform or policy). Order within a list does not matter.
 * Each list sorted, so the event is the same whatever order the client sent.
 */
export function diffMappings(before: readonly FieldMapping[], after: readonly FieldMapping[]): MappingDiff {
  const old = byOurField(before);
  const next = byOurField(after);
  const diff: MappingDiff = { added: [], removed: [], changed: [] };
  for (const [field, signature] of next) {
    const previous = old.get(field);
    if (previous === undefined) diff.added.push(field);
    else if (previous !== signature) diff.changed.push(field);
  }
  for (const field of old.keys()) if (!next.has(field)) diff.removed.push(field);
  diff.added.sort();
  diff.removed.sort();
  diff.changed.sort();
  return diff;
}

/** Our field → a canonical text of all its mappings (sorted), so equal sets compare equal. */
function byOurField(mappings: readonly FieldMapping[]): Map<string, string> {
  const grouped = new Map<string, string[]>();
  for (const mapping of mappings) {
    const list = grouped.get(mapping.ours) ?? [];
    list.push(signatureOf(mapping));
    grouped.set(mapping.ours, list);
  }
  return new Map([...grouped].map(([field, signatures]) => [field, signatures.sort().join('\n')]));
}

function signatureOf(mapping: FieldMapping): string {
  const transform = mapping.transform;
  const canonicalTransform =
    transform?.kind === 'picklist'
      ? { kind: 'picklist', values: Object.entries(transform.values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) }
      : (transform ?? null);
  return JSON.stringify([mapping.theirs, mapping.direction, canonicalTransform, mapping.conflictPolicy ?? null]);
}

/** A mapping with only its own keys, in a fixed order (what an event records; nothing a client slipped in). */
export function normalizeMapping(mapping: FieldMapping): FieldMapping {
  const normalized: FieldMapping = { ours: mapping.ours, theirs: mapping.theirs, direction: mapping.direction };
  if (mapping.transform) normalized.transform = normalizeTransform(mapping.transform);
  if (mapping.conflictPolicy) normalized.conflictPolicy = mapping.conflictPolicy;
  return normalized;
}

function normalizeTransform(transform: Transform): Transform {
  switch (transform.kind) {
    case 'date':
      return { kind: 'date', format: transform.format };
    case 'picklist':
      return { kind: 'picklist', values: { ...transform.values } };
    default:
      return { kind: transform.kind };
  }
}
