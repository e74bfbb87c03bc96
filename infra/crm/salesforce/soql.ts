import { CrmRequestRejected } from '../../../projectors/integrations/ports.ts';

/**
 * SOQL text built from values we do not control (ids from webhooks, subjects from workflow steps, field
 * names from mappings). Values are quoted and escaped as the SOQL reference lists (\n \r \t \b \f \" \' \\);
 * names and ids are checked against their shapes instead, since SOQL has no quoting for them.
 */

export function soqlString(value: string): string {
  const escaped = value.replace(/[\\'"\n\r\t\b\f]/g, (c) => ESCAPES[c]!);
  return `'${escaped}'`;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** A dateTime literal (unquoted, UTC, milliseconds kept: SOQL accepts fractions, Salesforce compares whole seconds). */
export function soqlDateTime(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new CrmRequestRejected(`not an instant: ${iso}`, 400);
  return new Date(ms).toISOString();
}

/** A record id: 15 or 18 characters of [A-Za-z0-9]. */
export function isSalesforceId(value: string): boolean {
  return /^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$/.test(value);
}

export function soqlId(value: string): string {
  if (!isSalesforceId(value)) throw new CrmRequestRejected(`not a Salesforce record id: ${JSON.stringify(value.slice(0, 40))}`, 400);
  return `'${value}'`;
}

/** A field's API name (standard, custom `__c`, namespaced `ns__Field__c`); anything else never reaches a query. */
export function soqlField(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,79}$/.test(name))
    throw new CrmRequestRejected(`not a Salesforce field name: ${JSON.stringify(name.slice(0, 80))}`, 400);
  return name;
}

/** Salesforce's dateTime answer (2026-01-01T00:00:00.000+0000) as ISO 8601 UTC (…Z). */
export function isoFromSalesforce(value: unknown): string {
  if (typeof value !== 'string') throw new CrmRequestRejected(`Salesforce answered a stamp that is not a dateTime: ${String(value)}`, 502);
  const ms = Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  if (!Number.isFinite(ms)) throw new CrmRequestRejected(`Salesforce answered a stamp that is not a dateTime: ${value}`, 502);
  return new Date(ms).toISOString();
}
