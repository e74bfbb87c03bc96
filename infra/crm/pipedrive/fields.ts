import type { CrmConnection, CrmFieldDescription, CrmFieldType, CrmValue } from '../../../projectors/integrations/ports.ts';
import type { PipedriveApi } from './api.ts';

/**
 * Person fields as the port names them. Pipedrive's own keys, except:
 * - `email` and `phone`: the PRIMARY entry of the person's `emails` / `phones` arrays, as a string;
 * - `org_name`: the name of the linked organization (Pipedrive links by `org_id`; writing finds the
 *   organization by exact name or creates it);
 * - `first_name` / `last_name`: Pipedrive derives them from `name`; writing one composes `name`.
 * Custom fields keep their 40-hex key and live under `custom_fields` in API v2 answers.
 */
export const STANDARD_FIELDS = ['name', 'first_name', 'last_name', 'email', 'phone', 'org_name'] as const;
export type StandardField = (typeof STANDARD_FIELDS)[number];

export function isStandard(name: string): name is StandardField {
  return (STANDARD_FIELDS as readonly string[]).includes(name);
}

/** One entry of GET /api/v1/personFields. */
export interface PipedriveField {
  key: string;
  name: string;
  field_type: string;
  edit_flag?: boolean;
  options?: { id: number | string; label: string }[] | null;
}

const STANDARD_TYPES: Record<string, { port: StandardField; type: CrmFieldType }> = {
  name: { port: 'name', type: 'string' },
  first_name: { port: 'first_name', type: 'string' },
  last_name: { port: 'last_name', type: 'string' },
  email: { port: 'email', type: 'email' },
  phone: { port: 'phone', type: 'phone' },
  org_id: { port: 'org_name', type: 'string' },
};

/** Custom field types we read and write as plain values; the others are read-only. */
const CUSTOM_TYPES: Record<string, { type: CrmFieldType; updatable: boolean }> = {
  varchar: { type: 'string', updatable: true },
  varchar_auto: { type: 'string', updatable: true },
  text: { type: 'string', updatable: true },
  phone: { type: 'phone', updatable: true },
  double: { type: 'number', updatable: true },
  int: { type: 'number', updatable: true },
  date: { type: 'date', updatable: true },
  enum: { type: 'picklist', updatable: true },
  set: { type: 'other', updatable: true },
  monetary: { type: 'number', updatable: false },
  address: { type: 'string', updatable: false },
};

export function describe(fields: PipedriveField[]): CrmFieldDescription[] {
  const described: CrmFieldDescription[] = [];
  for (const field of fields) {
    const standard = STANDARD_TYPES[field.key];
    if (standard) {
      described.push({ name: standard.port, label: field.name, type: standard.type, custom: false, updatable: true });
      continue;
    }
    if (!field.edit_flag) continue; // Pipedrive's other system fields (owner, visibility, stamps) are not synced
    const known = CUSTOM_TYPES[field.field_type] ?? { type: 'other' as const, updatable: false };
    const description: CrmFieldDescription = { name: field.key, label: field.name, type: known.type, custom: true, updatable: known.updatable };
    if (field.field_type === 'enum' || field.field_type === 'set') description.picklistValues = (field.options ?? []).map((option) => option.label);
    described.push(description);
  }
  return described;
}

/** GET /api/v1/personFields, every page (an account can have hundreds of custom fields). */
export async function loadPersonFields(api: PipedriveApi, connection: CrmConnection): Promise<PipedriveField[]> {
  const fields: PipedriveField[] = [];
  let start = 0;
  for (;;) {
    const page = await api.call<PipedriveField[] | null>(connection, 'GET', '/api/v1/personFields', { query: { start, limit: 500 } });
    fields.push(...(page.data ?? []));
    const pagination = page.additional.pagination as { more_items_in_collection?: boolean; next_start?: number } | undefined;
    if (!pagination?.more_items_in_collection || typeof pagination.next_start !== 'number' || pagination.next_start <= start) return fields;
    start = pagination.next_start;
  }
}

/** A custom field's API v2 value as the port holds it (option ids become their labels). */
export function readCustom(field: PipedriveField | undefined, raw: unknown): CrmValue | undefined {
  if (raw === null || raw === undefined) return undefined;
  const type = field?.field_type;
  if (type === 'enum') return optionLabel(field!, raw) ?? undefined;
  if (type === 'set') {
    const ids = Array.isArray(raw) ? raw : String(raw).split(',');
    return ids.map((id) => optionLabel(field!, id) ?? String(id)).join(', ');
  }
  if (typeof raw === 'object') {
    const value = (raw as { value?: unknown }).value;
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
  }
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  return undefined;
}

/** A port value as API v2 takes it for this custom field; a string error when it cannot be written. */
export function writeCustom(field: PipedriveField, value: CrmValue): { value: unknown } | { error: string } {
  if (value === null || value === '') return { value: null };
  switch (field.field_type) {
    case 'enum': {
      const id = optionId(field, String(value));
      return id === undefined ? { error: `${field.key}: "${String(value)}" is not an option of ${field.name}` } : { value: id };
    }
    case 'set': {
      const ids: unknown[] = [];
      for (const label of String(value)
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean)) {
        const id = optionId(field, label);
        if (id === undefined) return { error: `${field.key}: "${label}" is not an option of ${field.name}` };
        ids.push(id);
      }
      return { value: ids };
    }
    case 'double':
    case 'int': {
      const number = typeof value === 'number' ? value : Number(value);
      return Number.isFinite(number) ? { value: number } : { error: `${field.key}: "${String(value)}" is not a number` };
    }
    case 'date':
      return { value: String(value).slice(0, 10) };
    default:
      return CUSTOM_TYPES[field.field_type]?.updatable === false ? { error: `${field.key} is read-only` } : { value: String(value) };
  }
}

function optionLabel(field: PipedriveField, id: unknown): string | null {
  const option = (field.options ?? []).find((candidate) => String(candidate.id) === String(id));
  return option ? option.label : null;
}

function optionId(field: PipedriveField, label: string): number | string | undefined {
  const wanted = label.trim().toLowerCase();
  return (field.options ?? []).find((option) => option.label.toLowerCase() === wanted || String(option.id) === label)?.id;
}
