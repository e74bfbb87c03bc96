import type { CrmFieldDescription, CrmFieldType, CrmValue } from '../../../projectors/integrations/ports.ts';

/** One entry of GET /crm/v6/settings/fields?module=Contacts. */
export interface ZohoField {
  api_name: string;
  field_label?: string;
  display_label?: string;
  data_type: string;
  custom_field?: boolean;
  read_only?: boolean;
  field_read_only?: boolean;
  pick_list_values?: { display_value?: string; actual_value: string }[];
}

const TYPES: Record<string, CrmFieldType> = {
  text: 'string',
  textarea: 'string',
  website: 'string',
  email: 'email',
  phone: 'phone',
  integer: 'number',
  bigint: 'number',
  double: 'number',
  decimal: 'number',
  currency: 'number',
  percent: 'number',
  boolean: 'boolean',
  date: 'date',
  datetime: 'datetime',
  picklist: 'picklist',
};

/** Types Zoho computes (or that point at other records): read, never written. */
const COMPUTED = new Set([
  'autonumber',
  'formula',
  'rollup_summary',
  'ownerlookup',
  'lookup',
  'multiselectlookup',
  'fileupload',
  'imageupload',
  'profileimage',
]);

/** The contact's account: a lookup on the wire, its name on the port (written by finding or creating the account). */
export const ACCOUNT_FIELD = 'Account_Name';

export function describe(fields: ZohoField[]): CrmFieldDescription[] {
  return fields
    .filter((field) => field.api_name !== 'id')
    .map((field) => {
      const account = field.api_name === ACCOUNT_FIELD;
      const description: CrmFieldDescription = {
        name: field.api_name,
        label: field.field_label ?? field.display_label ?? field.api_name,
        type: account ? 'string' : (TYPES[field.data_type] ?? 'other'),
        custom: field.custom_field === true,
        updatable: account || (!field.read_only && !field.field_read_only && !COMPUTED.has(field.data_type)),
      };
      if (field.data_type === 'picklist' || field.data_type === 'multiselectpicklist')
        description.picklistValues = (field.pick_list_values ?? []).map((option) => option.actual_value).filter((value) => value !== '-None-');
      return description;
    });
}

/** A record's value as the port holds it: lookups by their name, multi-select picklists joined with "; ". */
export function readValue(raw: unknown): CrmValue | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return raw;
  if (Array.isArray(raw))
    return raw
      .map((entry) => (typeof entry === 'object' && entry !== null ? String((entry as { name?: unknown }).name ?? '') : String(entry)))
      .join('; ');
  if (typeof raw === 'object') {
    const name = (raw as { name?: unknown }).name;
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}
