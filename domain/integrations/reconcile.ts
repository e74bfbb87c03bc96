import type { ContactChanges } from '../contacts/contact.ts';
import { contactFieldSpecs, type ContactFieldName, type ContactFields } from '../contacts/fields.ts';
import { storableText, textProblem } from '../text.ts';
import { mergeField, type MergeDecision, type SyncedBase } from './conflicts.ts';
import { emptyLedger, isInboundEcho, isOutboundEcho, type EchoLedger } from './echo.ts';
import { applyTransform, type ConflictPolicy, type FieldMapping } from './mappings.ts';
import type { SyncDirection } from './integration.ts';
import { canonicalValue, sameValue, type FieldValue } from './values.ts';

/**
 * One contact and its CRM record side by side: what each side should get so that both hold the same mapped
 * values, which fields conflicted and how each was decided. Pure: the sync process (projectors/integrations/
 * sync) reads both sides, calls this, writes what it says, and then stores the new base and echo ledger.
 *
 * The base of a field is the value both sides held after the last sync; a side "changed" a field when it
 * differs from the base (conflicts.ts). Our own writes coming back are recognised by the echo ledger and
 * count as no change (echo.ts).
 */
export interface SyncLink {
  /** Per our field path (`firstName`, `customFields.score`). */
  base: Record<string, SyncedBase>;
  ledger: EchoLedger;
}

export const emptyLink = (): SyncLink => ({ base: {}, ledger: emptyLedger() });

export interface OurRecord {
  fields: ContactFields;
  /** When the contact last changed (ISO). */
  changedAt: string | null;
  /** The contact stream's revision (the stamp of our side for the echo ledger). */
  revision: number | null;
}

export interface TheirRecord {
  /** Provider field name → value. */
  fields: Record<string, FieldValue | undefined>;
  modifiedAt: string | null;
}

export interface ReconcileInput {
  mappings: readonly FieldMapping[];
  defaultPolicy: ConflictPolicy;
  /** Which sides this pass may write. */
  direction: SyncDirection;
  /** Only these of our fields (a forced re-sync of changed mappings); null: every mapped field. */
  fields?: readonly string[] | null;
  ours: OurRecord | null;
  theirs: TheirRecord | null;
  link: SyncLink | null;
}

export interface FieldConflict {
  field: string;
  providerField: string;
  decision: Extract<MergeDecision, { kind: 'conflict' }>;
}

export interface FieldReject {
  field: string;
  providerField: string;
  side: 'in' | 'out';
  reason: string;
}

export interface Reconciled {
  /** What to change in our contact (our field names; custom fields under `customFields`). */
  ourChanges: ContactChanges;
  /** Provider field → value to write to the record. */
  theirChanges: Record<string, FieldValue>;
  conflicts: FieldConflict[];
  /** Values one side cannot hold (a transform failed, too long, not an email): left out, and reported. */
  rejects: FieldReject[];
  /** The base once the changes are written (the caller keeps the old one if a write fails). */
  base: Record<string, SyncedBase>;
  /** Per our field path, the value written to each side (for the echo ledger, with the stamp the write got). */
  writtenIn: Record<string, FieldValue>;
  writtenOut: Record<string, FieldValue>;
}

export function reconcile(input: ReconcileInput): Reconciled {
  const link = input.link ?? emptyLink();
  const result: Reconciled = {
    ourChanges: {},
    theirChanges: {},
    conflicts: [],
    rejects: [],
    base: { ...link.base },
    writtenIn: {},
    writtenOut: {},
  };
  const mayWriteIn = input.direction !== 'out';
  const mayWriteOut = input.direction !== 'in';
  for (const mapping of input.mappings) {
    if (input.fields && !input.fields.includes(mapping.ours)) continue;
    const base = Object.hasOwn(link.base, mapping.ours) ? link.base[mapping.ours]! : null;

    // Our value as the provider would hold it, and theirs as we would.
    const oursValue = input.ours ? ourValue(input.ours.fields, mapping.ours) : null;
    let theirsValue: FieldValue = null;
    if (input.theirs) {
      const raw = input.theirs.fields[mapping.theirs];
      const inbound = applyTransform(mapping.transform, raw === undefined ? null : raw, 'in');
      if (!inbound.ok) {
        if (mapping.direction !== 'out') result.rejects.push(reject(mapping, 'in', inbound.failure.reason));
        continue;
      }
      theirsValue = inbound.value;
    }

    // Our own writes coming back are no change of that side.
    const baseValue = base?.value ?? null;
    const theirsSeen =
      input.theirs && !isInboundEcho(link.ledger, mapping.ours, theirsValue, input.theirs.modifiedAt) ? theirsValue : base ? baseValue : theirsValue;
    const oursStamp = input.ours?.revision == null ? null : String(input.ours.revision);
    const oursSeen = input.ours && !isOutboundEcho(link.ledger, mapping.ours, oursValue, oursStamp) ? oursValue : base ? baseValue : oursValue;

    // A side that does not exist yet takes the other's value (a new contact, a new record).
    const decision: MergeDecision = !input.theirs
      ? oursSeen === null
        ? { kind: 'unchanged' }
        : mapping.direction === 'in'
          ? { kind: 'unchanged' }
          : { kind: 'take_ours', value: oursSeen }
      : !input.ours
        ? theirsSeen === null || mapping.direction === 'out'
          ? { kind: 'unchanged' }
          : { kind: 'take_theirs', value: theirsSeen }
        : mergeField({
            base,
            ours: { value: oursSeen, changedAt: input.ours.changedAt },
            theirs: { value: theirsSeen, modifiedAt: input.theirs.modifiedAt },
            policy: mapping.conflictPolicy ?? input.defaultPolicy,
            direction: mapping.direction,
          });

    const settle = (value: FieldValue) => {
      result.base[mapping.ours] = { value, oursAt: input.ours?.changedAt ?? null, theirsAt: input.theirs?.modifiedAt ?? null };
    };
    const writeIn = (value: FieldValue): boolean => {
      if (!mayWriteIn) return false;
      const problem = ourFieldProblem(mapping.ours, value);
      if (problem) {
        result.rejects.push(reject(mapping, 'in', problem));
        return false;
      }
      setOurValue(result.ourChanges, mapping.ours, value);
      result.writtenIn[mapping.ours] = value;
      return true;
    };
    const writeOut = (value: FieldValue): boolean => {
      if (!mayWriteOut) return false;
      const outbound = applyTransform(mapping.transform, value, 'out');
      if (!outbound.ok) {
        result.rejects.push(reject(mapping, 'out', outbound.failure.reason));
        return false;
      }
      result.theirChanges[mapping.theirs] = outbound.value;
      result.writtenOut[mapping.ours] = value;
      return true;
    };

    switch (decision.kind) {
      case 'unchanged':
        if (base === null && input.ours && input.theirs && sameValue(oursSeen, theirsSeen)) settle(oursSeen);
        break;
      case 'converged':
        settle(decision.value);
        break;
      case 'take_theirs':
        if (writeIn(decision.value)) settle(decision.value);
        break;
      case 'take_ours':
        if (writeOut(decision.value)) settle(decision.value);
        break;
      case 'conflict': {
        const written = decision.winner === 'theirs' ? writeIn(decision.value) : writeOut(decision.value);
        if (written) {
          result.conflicts.push({ field: mapping.ours, providerField: mapping.theirs, decision });
          settle(decision.value);
        }
        break;
      }
    }
  }
  return result;
}

/** Our contact's value at a field path (`customFields.<key>` for custom fields). */
export function ourValue(fields: ContactFields, path: string): FieldValue {
  if (path.startsWith('customFields.')) {
    const key = path.slice('customFields.'.length);
    return Object.hasOwn(fields.customFields, key) ? fields.customFields[key]! : null;
  }
  const value = (fields as unknown as Record<string, unknown>)[path];
  return value === undefined ? null : (value as FieldValue);
}

function setOurValue(changes: ContactChanges, path: string, value: FieldValue): void {
  if (path.startsWith('customFields.')) {
    changes.customFields = { ...changes.customFields, [path.slice('customFields.'.length)]: value };
    return;
  }
  (changes as Record<string, unknown>)[path] = typeof value === 'string' || value === null ? value : String(value);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Why our field cannot hold a value from the provider, or null when it can. */
export function ourFieldProblem(path: string, value: FieldValue): string | null {
  if (path.startsWith('customFields.')) {
    const spec = contactFieldSpecs.customFields;
    if (typeof value === 'string')
      return value.length > spec.maxTextLength ? `longer than ${spec.maxTextLength} characters` : textProblem(value, 'free-text');
    return null;
  }
  const spec = contactFieldSpecs[path as ContactFieldName];
  if (!spec) return `not a contact field`;
  const text = value === null ? null : String(value);
  switch (spec.kind) {
    case 'email':
      if (text === null || !EMAIL.test(text) || text.length > 254) return 'not an email address';
      return textProblemOf(text);
    case 'text':
      if (text === null) return null;
      if (text.length > spec.maxLength) return `longer than ${spec.maxLength} characters`;
      return textProblemOf(text);
    case 'timeZone':
      if (text === null) return null;
      try {
        new Intl.DateTimeFormat('en', { timeZone: text });
        return null;
      } catch {
        return 'not an IANA time zone';
      }
    default:
      return null;
  }
}

function textProblemOf(text: string): string | null {
  return textProblem(text, 'single-line');
}

function reject(mapping: FieldMapping, side: 'in' | 'out', reason: string): FieldReject {
  return { field: mapping.ours, providerField: mapping.theirs, side, reason: storableText(reason).slice(0, 500) };
}

/** The fields of a new contact from a provider record (null: the record has no usable email). */
export function newContactFields(reconciled: Reconciled): (ContactChanges & { email: string }) | null {
  const email = reconciled.ourChanges.email;
  if (typeof email !== 'string' || email === '') return null;
  return { ...reconciled.ourChanges, email: email.trim().toLowerCase() };
}

/** A short fingerprint of the mapped values (for logs and dedupe keys). */
export function valuesKey(values: Record<string, FieldValue>): string {
  return Object.keys(values)
    .sort()
    .map((key) => `${key}=${canonicalValue(values[key]!)}`)
    .join('&');
}
