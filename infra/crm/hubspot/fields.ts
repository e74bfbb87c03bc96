import type { CrmFieldDescription, CrmFieldType } from '../../../projectors/integrations/ports.ts';

/** A property definition as the library answers it (GET /crm/v3/properties/contacts). */
interface HubSpotProperty {
  name: string;
  label: string;
  type: string;
  fieldType: string;
  options?: { value: string; hidden?: boolean }[];
  hubspotDefined?: boolean;
  calculated?: boolean;
  modificationMetadata?: { readOnlyValue?: boolean };
}

/**
 * HubSpot's property types (https://developers.hubspot.com/docs/api/crm/properties): `string` (text, textarea,
 * phonenumber, file…), `number`, `date`, `datetime`, `enumeration` (select, radio, checkbox; a single
 * booleancheckbox is a yes/no), `bool`, `phone_number`. The email is a plain string named `email`.
 */
export function describeProperty(property: HubSpotProperty): CrmFieldDescription {
  const type = fieldType(property);
  const picklist = type === 'picklist' ? (property.options ?? []).filter((option) => !option.hidden).map((option) => option.value) : undefined;
  return {
    name: property.name,
    label: property.label,
    type,
    // Custom properties are those the portal made (hubspotDefined absent or false).
    custom: property.hubspotDefined !== true,
    updatable: property.modificationMetadata?.readOnlyValue !== true && property.calculated !== true,
    ...(picklist ? { picklistValues: picklist } : {}),
  };
}

function fieldType(property: HubSpotProperty): CrmFieldType {
  if (property.name === 'email' || property.name === 'work_email') return 'email';
  switch (property.type) {
    case 'string':
      return property.fieldType === 'phonenumber' ? 'phone' : 'string';
    case 'phone_number':
      return 'phone';
    case 'number':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'enumeration':
      return property.fieldType === 'booleancheckbox' ? 'boolean' : 'picklist';
    default:
      return 'other';
  }
}
