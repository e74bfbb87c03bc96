import type { ConditionRule, ConditionSet } from './definition.ts';
import type { ContactSnapshot } from './steps/step-type.ts';

/** The value a rule's field names on a contact: a standard field, `customFields.<key>`, or `tags`. */
function valueOf(contact: ContactSnapshot, field: string): unknown {
  if (field === 'tags') return contact.tags;
  if (field.startsWith('customFields.')) return contact.customFields[field.slice('customFields.'.length)];
  return (contact as unknown as Record<string, unknown>)[field];
}

const normalized = (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value);

export function ruleHolds(contact: ContactSnapshot, rule: ConditionRule): boolean {
  const actual = valueOf(contact, rule.field);
  const expected = rule.value;
  switch (rule.operator) {
    case 'exists':
      return actual !== null && actual !== undefined && actual !== '' && !(Array.isArray(actual) && actual.length === 0);
    case 'not_exists':
      return !ruleHolds(contact, { ...rule, operator: 'exists' });
    case 'equals':
      return normalized(actual) === normalized(expected);
    case 'not_equals':
      return normalized(actual) !== normalized(expected);
    case 'contains':
      if (Array.isArray(actual)) return actual.some((item) => normalized(item) === normalized(expected));
      return typeof actual === 'string' && typeof expected === 'string' && actual.toLowerCase().includes(expected.toLowerCase());
    case 'not_contains':
      return !ruleHolds(contact, { ...rule, operator: 'contains' });
    case 'greater_than':
      return typeof actual === 'number' && typeof expected === 'number' && actual > expected;
    case 'less_than':
      return typeof actual === 'number' && typeof expected === 'number' && actual < expected;
    default: {
      const unknown: never = rule.operator;
      return unknown;
    }
  }
}

export function conditionsHold(contact: ContactSnapshot, set: ConditionSet): boolean {
  return set.match === 'all' ? set.rules.every((rule) => ruleHolds(contact, rule)) : set.rules.some((rule) => ruleHolds(contact, rule));
}
