import type { DomainEvent } from '../events.ts';
import { storableText } from '../text.ts';
import type { ConflictPolicy, MappingDirection } from './mappings.ts';
import { instantMs, sameValue, type FieldValue } from './values.ts';

/**
 * Two-way merge of one field. The sync keeps, per contact and mapped field, the base: the value both sides
 * held after the last sync, with each side's stamp then. A side "changed" when its value now differs from
 * the base (by canonical value: see values.ts), not when its stamp moved: providers stamp whole records, so
 * an edit of another field moves the stamp too. Echoes of our own writes are dropped before this (echo.ts).
 */
export interface SyncedBase {
  value: FieldValue;
  /** Our change time of the value when it was last synced (ISO), if known. */
  oursAt: string | null;
  /** The provider's modification stamp of the record when it was last synced (ISO), if known. */
  theirsAt: string | null;
}

export interface OurSide {
  value: FieldValue;
  /** When our value last changed (the contact event's time, ISO). */
  changedAt: string | null;
}

export interface TheirSide {
  value: FieldValue;
  /** The provider's modification stamp (ISO, as its adapter normalized it). */
  modifiedAt: string | null;
}

export interface MergeInput {
  /** Null on the first sync of this field for this record (initial sync, new mapping). */
  base: SyncedBase | null;
  ours: OurSide;
  theirs: TheirSide;
  policy: ConflictPolicy;
  /** The mapping's direction: a one-way mapping never writes against it. Default: both. */
  direction?: MappingDirection;
}

/**
 * Why a conflict went one way:
 * - policy_ours / policy_theirs: the field's policy names the winner.
 * - most_recent_ours / most_recent_theirs: the side stamped later wins.
 * - most_recent_tie: same stamp (or neither side has one): the provider's value wins. Deterministic, and
 *   chosen because taking theirs costs no provider API call and cannot start a write loop; stamps are
 *   often only to the second at providers, so ties are real.
 * - one_way_in / one_way_out: the mapping flows one way only; its source wins whatever the policy.
 */
export type ConflictReason =
  'policy_ours' | 'policy_theirs' | 'most_recent_ours' | 'most_recent_theirs' | 'most_recent_tie' | 'one_way_in' | 'one_way_out';

export type MergeDecision =
  /** Neither side changed (or only a side whose changes this mapping does not carry). */
  | { kind: 'unchanged' }
  /** Both changed to the same value: write nothing, only move the base. */
  | { kind: 'converged'; value: FieldValue }
  /** Only ours changed: write it out to the provider. */
  | { kind: 'take_ours'; value: FieldValue }
  /** Only theirs changed: write it into our contact. */
  | { kind: 'take_theirs'; value: FieldValue }
  /** Both changed, differently: `winner`'s value is written to the other side, and the conflict recorded. */
  | { kind: 'conflict'; winner: 'ours' | 'theirs'; value: FieldValue; reason: ConflictReason; base: FieldValue; ours: OurSide; theirs: TheirSide };

export function mergeField(input: MergeInput): MergeDecision {
  const { base, ours, theirs } = input;
  const direction = input.direction ?? 'both';
  if (sameValue(ours.value, theirs.value)) {
    return base !== null && sameValue(base.value, ours.value) ? { kind: 'unchanged' } : { kind: 'converged', value: ours.value };
  }
  // First sync: an empty side is filled from the other, not "changed to empty".
  const oursChanged = !sameValue(ours.value, base === null ? null : base.value);
  const theirsChanged = !sameValue(theirs.value, base === null ? null : base.value);
  if (oursChanged && !theirsChanged) return direction === 'in' ? { kind: 'unchanged' } : { kind: 'take_ours', value: ours.value };
  if (theirsChanged && !oursChanged) return direction === 'out' ? { kind: 'unchanged' } : { kind: 'take_theirs', value: theirs.value };
  const { winner, reason } = pickWinner(input, direction);
  return {
    kind: 'conflict',
    winner,
    value: winner === 'ours' ? ours.value : theirs.value,
    reason,
    base: base?.value ?? null,
    ours: { ...ours },
    theirs: { ...theirs },
  };
}

function pickWinner(input: MergeInput, direction: MappingDirection): { winner: 'ours' | 'theirs'; reason: ConflictReason } {
  if (direction === 'in') return { winner: 'theirs', reason: 'one_way_in' };
  if (direction === 'out') return { winner: 'ours', reason: 'one_way_out' };
  if (input.policy === 'ours') return { winner: 'ours', reason: 'policy_ours' };
  if (input.policy === 'theirs') return { winner: 'theirs', reason: 'policy_theirs' };
  // A side without a usable stamp counts as stamped when it was last synced (it is not known to be newer).
  const oursAt = instantMs(input.ours.changedAt) ?? instantMs(input.base?.oursAt) ?? -Infinity;
  const theirsAt = instantMs(input.theirs.modifiedAt) ?? instantMs(input.base?.theirsAt) ?? -Infinity;
  if (oursAt > theirsAt) return { winner: 'ours', reason: 'most_recent_ours' };
  if (theirsAt > oursAt) return { winner: 'theirs', reason: 'most_recent_theirs' };
  return { winner: 'theirs', reason: 'most_recent_tie' };
}

/** The reason in words, for the audit history. */
export function explainConflict(reason: ConflictReason): string {
  const words: Record<ConflictReason, string> = {
    policy_ours: 'policy ours: our value wins',
    policy_theirs: "policy theirs: the provider's value wins",
    most_recent_ours: 'most recent: ours changed later',
    most_recent_theirs: 'most recent: theirs stamped later',
    most_recent_tie: "most recent: same time on both sides, the provider's value wins",
    one_way_in: 'one-way mapping in: the provider is the source',
    one_way_out: 'one-way mapping out: NexusFlow is the source',
  };
  return words[reason];
}

/**
 * The fact a sync records when it resolved a conflict on a contact's field: both values, the winner and
 * why, so the contact's history can show what was overwritten. Recorded by the sync process (stream to be
 * chosen with it: the contact's, so the contact's audit shows it, is the intent).
 */
export type ContactFieldConflictResolved = DomainEvent<
  'ContactFieldConflictResolved',
  {
    organizationId: string;
    integrationId: string;
    contactId: string;
    /** The provider's record id. */
    externalId: string;
    runId: string;
    /** Our field path and the provider's field name. */
    field: string;
    providerField: string;
    base: FieldValue;
    ours: OurSide;
    theirs: TheirSide;
    winner: 'ours' | 'theirs';
    reason: ConflictReason;
  }
>;

export interface ConflictContext {
  organizationId: string;
  integrationId: string;
  contactId: string;
  externalId: string;
  runId: string;
  field: string;
  providerField: string;
}

/**
 * The event for a conflict decision. Provider text enters here unchecked, so strings are made storable
 * (NUL and lone surrogates become U+FFFD): an audit entry must never stop a projection.
 */
export function conflictResolvedEvent(
  context: ConflictContext,
  decision: Extract<MergeDecision, { kind: 'conflict' }>,
): ContactFieldConflictResolved {
  const clean = (value: FieldValue): FieldValue => (typeof value === 'string' ? storableText(value) : value);
  const stamp = (value: string | null) => (value === null ? null : storableText(value));
  return {
    type: 'ContactFieldConflictResolved',
    version: 1,
    data: {
      organizationId: context.organizationId,
      integrationId: context.integrationId,
      contactId: context.contactId,
      externalId: storableText(context.externalId),
      runId: context.runId,
      field: context.field,
      providerField: storableText(context.providerField),
      base: clean(decision.base),
      ours: { value: clean(decision.ours.value), changedAt: stamp(decision.ours.changedAt) },
      theirs: { value: clean(decision.theirs.value), modifiedAt: stamp(decision.theirs.modifiedAt) },
      winner: decision.winner,
      reason: decision.reason,
    },
  };
}
