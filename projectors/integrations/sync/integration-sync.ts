import { PlanLimitReachedError } from '../../../domain/billing/quota.ts';
import type { QuotaGate } from '../../../command-api/billing/quota-gate.ts';
import { randomUUID } from 'node:crypto';
import { newEventId } from '../../../infra/eventstore/event-ids.ts';
import type { Logger } from 'pino';
import type { CommandHandler, KnownStream } from '../../../command-api/command-handling.ts';
import type { ContactCommands } from '../../../command-api/contacts/contact-commands.ts';
import { WrongExpectedRevisionError, type EventStreams, type StreamAppend } from '../../../command-api/ports.ts';
import { metadataFrom } from '../../../domain/events.ts';
import { contactFieldsOf } from '../../../domain/contacts/fields.ts';
import { claimStreamId } from '../../../command-api/uniqueness/value-claims.ts';
import { contactStream, type Contact, type ContactEvent } from '../../../domain/contacts/contact.ts';
import { contactDecider } from '../../../domain/contacts/decide.ts';
import { pickContactFields, type NewContact } from '../../../domain/contacts/fields.ts';
import { ConflictError, NotFoundError } from '../../../domain/errors.ts';
import type { CommandContext } from '../../../domain/events.ts';
import { conflictResolvedEvent, type ContactFieldConflictResolved } from '../../../domain/integrations/conflicts.ts';
import { advance, nextWindow, type SyncCursor } from '../../../domain/integrations/cursor.ts';
import { recordWrite } from '../../../domain/integrations/echo.ts';
import {
  integrationDecider,
  integrationStream,
  type DirectionCursors,
  type Integration,
  type IntegrationCommand,
  type LiveIntegration,
  type RunInProgress,
  type SyncCounts,
  type SyncReject,
} from '../../../domain/integrations/integration.ts';
import type { FieldMapping } from '../../../domain/integrations/mappings.ts';
import { defaultMappings } from '../../../domain/integrations/providers.ts';
import { newContactFields, reconcile, type OurRecord } from '../../../domain/integrations/reconcile.ts';
import { claimDecider } from '../../../domain/uniqueness/claim.ts';
import type { ContactWrite, CrmConnection, CrmContact, CrmProvider } from '../ports.ts';
import { CrmQuotaExhausted, CrmRateLimited, CrmRequestRejected, CrmUnauthorized, CrmUnavailable } from '../ports.ts';
import type { Metrics } from '../../../infra/observability/metrics.ts';
import { syncActorId } from './sync-projection.ts';
import type { ClaimedIntegration, OutboundChange, StoredLink, SyncStore } from './sync-store.ts';

/** How the sync reaches a provider as an integration (infra/crm/integration-connections.ts). */
export interface IntegrationAccess {
  providerOf(integration: Pick<LiveIntegration, 'provider'>): CrmProvider;
  connectionFor(state: Integration, options?: { refresh?: boolean }): Promise<CrmConnection>;
}

export interface SyncDependencies {
  handler: CommandHandler;
  /** The event store as the application sees it: its bulk append takes a page of new contacts at once. */
  streams: EventStreams;
  contacts: ContactCommands;
  /** The plan limits an import's new contacts are held to (absent: not enforced, as in a test's own wiring). */
  quotas?: QuotaGate | null;
  store: SyncStore;
  access: IntegrationAccess;
  logger: Logger;
  now?: () => Date;
  /** Records per provider page (at most the adapter's own limit). */
  pageSize?: number;
  leaseMs: number;
  metrics?: Metrics;
  /** How far the projections are (an import waits for them after each chunk); absent: no waiting. */
  progress?: { names: string[]; waitFor(projections: readonly string[], position: string, timeoutMs: number): Promise<boolean> };
}

/** The integration's daily API budget is spent: nothing more until the next UTC day. */
export class ApiBudgetSpent extends Error {
  constructor(readonly until: Date) {
    super('The daily API budget of this integration is spent');
  }
}

/** Another worker took the integration over (this one's lease ran out): stop at once. */
export class LeaseLost extends Error {}

const zeroCounts = (): SyncCounts => ({ read: 0, created: 0, updated: 0, skipped: 0, rejected: 0, conflicts: 0 });
const ARCHIVED_TAG = 'crm-archived';
/** Records merged at once within a page. */
const MERGE_CONCURRENCY = 16;
/** New contacts per bulk append of an import; the projections catch up after each before the next. */
const IMPORT_CHUNK = 100;
/** A contact changed between our read and our write is read and merged again, this many times. */
const MERGE_ATTEMPTS = 3;

/**
 * One visit of the sync worker to one integration (see SyncWorker): the ids webhooks named are fetched
 * and merged, a run in progress goes on from its checkpoint (or a due poll starts one), and our contacts'
 * changes go out. Every provider call is counted against the integration's daily budget; a 401 refreshes the
 * token once. Errors leave the run where its last checkpoint put it; the worker decides when to come back.
 */
export class IntegrationSync {
  private readonly now: () => Date;
  private integration!: LiveIntegration;
  private known!: KnownStream<Integration>;
  private provider!: CrmProvider;
  private connection!: CrmConnection;
  private lastRunEnd: { at: number; completed: boolean } | null = null;
  private emitted: Partial<SyncCounts> = {};

  constructor(
    private readonly deps: SyncDependencies,
    private readonly claimed: ClaimedIntegration,
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  /** False when the integration cannot sync now (not connected): nothing was done. */
  async visit(): Promise<boolean> {
    const loaded = await this.deps.handler.load(integrationStream(this.claimed.integrationId), integrationDecider);
    if (loaded.state.status !== 'connected') return false;
    this.integration = loaded.state;
    this.known = { state: loaded.state, revision: loaded.revision, position: loaded.position };
    this.lastRunEnd = lastRunEnd(loaded.events);
    this.provider = this.deps.access.providerOf(this.integration);
    this.connection = await this.deps.access.connectionFor(this.integration);

    if (this.claimed.pendingFetch.length > 0) await this.fetchNamed(this.claimed.pendingFetch);
    let run = this.integration.run;
    if (!run && this.pollDue()) run = await this.startRun();
    if (run) await this.runSync(run);
    else if (this.integration.settings.direction !== 'in') {
      const counts = zeroCounts();
      this.emitted = {};
      await this.drainOutbound(randomUUID(), counts, null);
      this.emitCounts(counts);
    }
    return true;
  }

  /**
   * Whether the next run is due: the poll interval after the last run ended (read from the integration's own
   * stream, which the sync projection may not have caught up with), later after a failure (the projection's
   * back-off); at once when changed mappings wait for a re-sync.
   */
  private pollDue(): boolean {
    if (this.integration.fieldsToResync.length > 0) return true;
    const end = this.lastRunEnd;
    if (!end) return true;
    const interval = this.integration.settings.pollIntervalMinutes * 60_000;
    const next = end.completed ? end.at + interval : Math.max(this.claimed.nextPollAt.getTime(), end.at + 30_000);
    return next <= this.now().getTime();
  }

  private async startRun(): Promise<RunInProgress | null> {
    const integration = this.integration;
    const resume = integration.resume;
    const neverSynced = Object.keys(integration.cursors).length === 0;
    const kind = resume ? resume.kind : neverSynced ? 'initial' : integration.fieldsToResync.length > 0 ? 'forced' : 'incremental';
    const direction = resume ? resume.direction : integration.settings.direction;
    const fields = kind === 'forced' && !neverSynced ? integration.fieldsToResync : undefined;
    await this.command({
      type: 'StartSync',
      data: { ...this.ids(), runId: randomUUID(), kind, direction, ...(fields ? { fields } : {}) },
    });
    return this.integration.run;
  }

  // ---- A run ----

  private async runSync(run: RunInProgress): Promise<void> {
    const cursors: DirectionCursors = { ...run.from, ...(run.checkpoint?.cursors ?? {}) };
    const counts = run.checkpoint?.counts ? { ...run.checkpoint.counts } : zeroCounts();
    this.emitted = { ...counts };
    const checkpoint = async () => {
      this.emitCounts(counts);
      await this.command({ type: 'RecordSyncProgress', data: { ...this.ids(), runId: run.runId, cursors: { ...cursors }, counts: { ...counts } } });
      if (!(await this.deps.store.renew(this.integration.id, this.deps.leaseMs))) throw new LeaseLost();
    };

    if (run.direction !== 'out') {
      // An initial or forced run that has not checkpointed reads everything; any other reads from its cursor,
      // less the overlap window (records stamped at the cursor come again and are recognised by their link).
      const fromCursor = run.kind === 'incremental' || run.checkpoint?.cursors.in !== undefined;
      const since = fromCursor ? nextWindow(cursors.in ?? null).since : null;
      let pageToken: string | null = null;
      do {
        const page = await this.call(() =>
          this.provider.client.listChangedContacts(this.connection, { since, pageToken, pageSize: this.pageSize(), fields: this.theirFields() }),
        );
        counts.read += page.items.length;
        await this.applyInbound(page.items, run, counts);
        cursors.in =
          advance(
            cursors.in ?? null,
            page.items.map((r) => ({ id: r.externalId, stamp: r.modifiedAt })),
          ) ?? undefined;
        if (cursors.in === undefined) delete cursors.in;
        pageToken = page.nextPageToken;
        await checkpoint();
      } while (pageToken !== null);
      if (run.kind === 'incremental' && this.integration.settings.deletePolicy !== 'ignore') await this.applyDeletions(run.from.in ?? null, counts);
      await this.retryInboundRejects(run, counts);
    }

    if (run.direction !== 'in') {
      const scanStarted = this.now();
      const scanned = new Set<string>();
      if (run.kind !== 'incremental') {
        let after = cursors.out ? { at: cursors.out.stamp, id: cursors.out.lastId } : null;
        for (;;) {
          const contacts = await this.deps.store.contactsAfter(
            this.integration.organizationId,
            after,
            this.provider.client.limits.maxWriteBatch,
            run.kind === 'initial' ? this.integration.id : null,
          );
          if (contacts.length === 0) break;
          for (const contact of contacts) scanned.add(contact.id);
          await this.applyOutbound(
            contacts.map((c) => ({ contactId: c.id, deleted: false, changedAt: c.updatedAt })),
            run.runId,
            run.fields,
            counts,
          );
          const last = contacts[contacts.length - 1]!;
          after = { at: last.updatedAt.toISOString(), id: last.id };
          cursors.out = { stamp: after.at, lastId: after.id };
          await checkpoint();
        }
        // A change the scan took in (it read the contact after the change) is sent; one of a contact the scan
        // did not see (the read model had not caught up) stays queued.
        const pending = await this.deps.store.outbound(this.integration.id, 100_000);
        await this.deps.store.sent(
          this.integration.id,
          pending.filter((change) => change.changedAt <= scanStarted && !change.deleted && scanned.has(change.contactId)),
        );
      }
      const last = await this.drainOutbound(run.runId, counts, run.fields);
      if (last) cursors.out = last;
      await this.retryOutboundRejects(run.runId, counts);
    }
    await this.command({ type: 'CompleteSync', data: { ...this.ids(), runId: run.runId, cursors, counts } });
    this.emitCounts(counts);
    this.deps.metrics?.crmSyncRuns.inc({ provider: this.integration.provider, kind: run.kind, outcome: 'completed' });
  }

  /** Sends our contacts' pending changes (and deletions), oldest first; answers where it got to. */
  private async drainOutbound(runId: string, counts: SyncCounts, fields: string[] | null): Promise<SyncCursor | null> {
    let last: SyncCursor | null = null;
    for (;;) {
      const changes = await this.deps.store.outbound(this.integration.id, this.provider.client.limits.maxWriteBatch);
      if (changes.length === 0) return last;
      await this.applyOutbound(changes, runId, fields, counts);
      await this.deps.store.sent(this.integration.id, changes);
      const newest = changes[changes.length - 1]!;
      last = { stamp: newest.changedAt.toISOString(), lastId: newest.contactId };
      if (!(await this.deps.store.renew(this.integration.id, this.deps.leaseMs))) throw new LeaseLost();
    }
  }

  /** Records the provider refused before are tried again on every run until they go through. */
  private async retryOutboundRejects(runId: string, counts: SyncCounts): Promise<void> {
    const ids = [...new Set(this.integration.rejects.filter((r) => r.direction === 'out' && r.contactId).map((r) => r.contactId!))];
    for (let i = 0; i < ids.length; i += this.provider.client.limits.maxWriteBatch) {
      const chunk = ids.slice(i, i + this.provider.client.limits.maxWriteBatch);
      const before = counts.rejected;
      await this.applyOutbound(
        chunk.map((contactId) => ({ contactId, deleted: false, changedAt: this.now() })),
        runId,
        null,
        counts,
      );
      if (counts.rejected === before) {
        const refs = this.integration.rejects.filter((r) => r.direction === 'out' && r.contactId && chunk.includes(r.contactId));
        await this.command({ type: 'ResolveRejects', data: { ...this.ids(), refs: refs.map(({ reason: _reason, ...ref }) => ref) } });
      }
    }
  }

  /**
   * Provider records we refused before (no usable email, a value our field cannot hold) are fetched again on
   * every run, whether or not they changed, until they go through; those that do are resolved.
   */
  private async retryInboundRejects(run: RunInProgress, counts: SyncCounts): Promise<void> {
    const refused = this.integration.rejects.filter((r) => r.direction === 'in' && r.externalId !== null);
    const ids = [...new Set(refused.map((r) => r.externalId!))];
    for (let i = 0; i < ids.length; i += this.pageSize()) {
      const chunk = ids.slice(i, i + this.pageSize());
      const records = await this.call(() => this.provider.client.getContacts(this.connection, chunk, this.theirFields()));
      const again = new Set((await this.applyInbound(records, run, counts, true)).map((r) => r.externalId));
      // Taken in now, or gone at the provider: nothing is refused any more.
      const resolved = refused.filter((r) => chunk.includes(r.externalId!) && !again.has(r.externalId));
      if (resolved.length > 0)
        await this.command({ type: 'ResolveRejects', data: { ...this.ids(), refs: resolved.map(({ reason: _reason, ...ref }) => ref) } });
    }
  }

  // ---- Provider → us ----

  /** The records webhooks named, fetched (never taken from the webhook's body) and merged. */
  private async fetchNamed(ids: string[]): Promise<void> {
    const counts = zeroCounts();
    this.emitted = {};
    const runId = randomUUID();
    for (let i = 0; i < ids.length; i += this.pageSize()) {
      const chunk = ids.slice(i, i + this.pageSize());
      const records = await this.call(() => this.provider.client.getContacts(this.connection, chunk, this.theirFields()));
      await this.applyInbound(records, { runId, direction: this.integration.settings.direction, fields: null }, counts);
      await this.deps.store.removeFetched(this.integration.id, chunk);
      this.emitCounts(counts);
    }
  }

  private async applyInbound(
    records: CrmContact[],
    run: Pick<RunInProgress, 'runId' | 'direction' | 'fields'>,
    counts: SyncCounts,
    /** Merge even records whose stamp was applied already (retrying refused ones). */
    force = false,
  ): Promise<SyncReject[]> {
    if (records.length === 0) return [];
    const links = await this.deps.store.linksByExternalId(
      this.integration.id,
      records.map((r) => r.externalId),
    );
    const touched: StoredLink[] = [];
    const writes: { link: StoredLink; write: ContactWrite; writtenOut: Record<string, unknown> }[] = [];
    const rejects: SyncReject[] = [];
    // Records new to us become contacts in one bulk append (an import's bulk); the rest are merged one by one.
    const imported = await this.importNew(
      records.filter((record) => !links.has(record.externalId)),
      counts,
      rejects,
    );
    touched.push(...imported.links);
    const importedIds = imported.handled;
    // Records are merged several at a time (each its own contact; one changed meanwhile is merged again).
    await eachLimited(records, MERGE_CONCURRENCY, async (record) => {
      if (importedIds.has(record.externalId)) return;
      const link = links.get(record.externalId) ?? null;
      // Read again in the overlap window (or named twice): applied already.
      if (!force && link?.providerModifiedAt && Date.parse(record.modifiedAt) <= link.providerModifiedAt.getTime() && run.fields === null) {
        counts.skipped += 1;
        return;
      }
      const outcome = await this.mergeRecord(record, link, run, counts, rejects);
      if (!outcome) return;
      touched.push(outcome.link);
      if (outcome.write) writes.push({ link: outcome.link, write: outcome.write, writtenOut: outcome.writtenOut });
    });
    await this.writeOut(writes, counts, rejects);
    await this.deps.store.saveLinks(this.integration.id, touched);
    await this.reject(run.runId, rejects, counts);
    return rejects;
  }

  /** One provider record merged into our contact (created when new); answers its link and what to send back. */
  private async mergeRecord(
    record: CrmContact,
    link: StoredLink | null,
    run: Pick<RunInProgress, 'runId' | 'direction' | 'fields'>,
    counts: SyncCounts,
    rejects: SyncReject[],
  ): Promise<{ link: StoredLink; write: ContactWrite | null; writtenOut: Record<string, unknown> } | null> {
    const theirs = { fields: record.fields, modifiedAt: record.modifiedAt };
    let contactId = link?.contactId ?? null;
    let created = false;
    if (!contactId) {
      const fresh = reconcile({ ...this.policy(), direction: 'in', fields: null, ours: null, theirs, link: null });
      const fields = newContactFields(fresh);
      if (!fields) {
        rejects.push({
          direction: 'in',
          externalId: record.externalId,
          contactId: null,
          reason: rejectReason(fresh.rejects) ?? 'the record has no usable email',
        });
        return null;
      }
      let made: { contactId: string; created: boolean };
      try {
        made = await this.createOrFind(fields);
      } catch (err) {
        // Beyond the plan's contacts limit: the record waits as a reject, tried again on every run.
        if (!(err instanceof PlanLimitReachedError)) throw err;
        rejects.push({ direction: 'in', externalId: record.externalId, contactId: null, reason: limitReached(err.plan.name, err.limit) });
        return null;
      }
      contactId = made.contactId;
      created = made.created;
      if (created) counts.created += 1;
    }
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.deps.handler.load<Contact, ContactEvent>(contactStream(contactId), contactDecider);
      if (loaded.state.status !== 'active') {
        // Deleted on our side: the deletion goes out through the outbound changes, by the delete policy.
        counts.skipped += 1;
        return null;
      }
      const ours: OurRecord = { fields: pickContactFields(loaded.state), changedAt: lastChangeOf(loaded.events), revision: loaded.revision };
      const merged = reconcile({ ...this.policy(), direction: run.direction, fields: run.fields, ours, theirs, link });
      for (const r of merged.rejects)
        rejects.push({ direction: r.side, externalId: record.externalId, contactId, reason: `${r.field}: ${r.reason}` });
      const conflicts: ContactFieldConflictResolved['data'][] = merged.conflicts.map(
        (c) =>
          conflictResolvedEvent(
            { ...this.ids(), contactId: contactId!, externalId: record.externalId, runId: run.runId, field: c.field, providerField: c.providerField },
            c.decision,
          ).data,
      );
      let revision = loaded.revision;
      if (Object.keys(merged.ourChanges).length > 0 || conflicts.length > 0) {
        try {
          const outcome = await this.deps.contacts.update(
            this.context(run.runId),
            this.integration.organizationId,
            contactId,
            merged.ourChanges,
            loaded.revision,
            undefined,
            conflicts,
          );
          revision = outcome.revision;
          if (!created && outcome.appended.some((e) => e.type === 'ContactUpdated')) counts.updated += 1;
          counts.conflicts += conflicts.length;
        } catch (err) {
          // Our contact changed since we read it: merge again on what it is now.
          if (err instanceof WrongExpectedRevisionError && attempt < MERGE_ATTEMPTS) continue;
          if (err instanceof ConflictError || err instanceof NotFoundError) {
            rejects.push({ direction: 'in', externalId: record.externalId, contactId, reason: err.message });
            return null;
          }
          throw err;
        }
      }
      let ledger = link?.ledger ?? { in: {}, out: {} };
      for (const [field, value] of Object.entries(merged.writtenIn)) ledger = recordWrite(ledger, 'in', field, value, String(revision));
      const next: StoredLink = {
        externalId: record.externalId,
        contactId,
        base: merged.base,
        ledger,
        providerModifiedAt: new Date(record.modifiedAt),
      };
      const write = Object.keys(merged.theirChanges).length > 0 ? { externalId: record.externalId, fields: merged.theirChanges } : null;
      return { link: next, write, writtenOut: merged.writtenOut };
    }
  }

  /**
   * New records as new contacts in two bulk appends: first the claims on their emails (each its own stream,
   * expected new), then the contacts whose claim was stored. A record whose email was claimed before (a
   * contact has it, or had it) is left to the one-by-one path, which links or takes the claim over. A crash
   * between the two leaves claims whose owner does not exist: the next claimant sees them stale. Answers the
   * links of the contacts made.
   */
  private async importNew(records: CrmContact[], counts: SyncCounts, rejects: SyncReject[]): Promise<{ links: StoredLink[]; handled: Set<string> }> {
    const handled = new Set<string>();
    const links: StoredLink[] = [];
    if (!this.deps.streams.appendBulk || records.length < 2) return { links, handled };
    const metadata = metadataFrom(this.context(null));
    const byEmail = new Map<
      string,
      { record: CrmContact; contactId: string; fields: ReturnType<typeof newContactFields> & object; base: StoredLink['base'] }
    >();
    for (const record of records) {
      const fresh = reconcile({
        ...this.policy(),
        direction: 'in',
        fields: null,
        ours: null,
        theirs: { fields: record.fields, modifiedAt: record.modifiedAt },
        link: null,
      });
      const fields = newContactFields(fresh);
      if (!fields) {
        rejects.push({
          direction: 'in',
          externalId: record.externalId,
          contactId: null,
          reason: rejectReason(fresh.rejects) ?? 'the record has no usable email',
        });
        handled.add(record.externalId);
        continue;
      }
      // Two records with one email: the second goes the one-by-one way (and links to the first's contact).
      if (!byEmail.has(fields.email)) byEmail.set(fields.email, { record, contactId: randomUUID(), fields, base: fresh.base });
    }
    const candidates = [...byEmail.values()];
    for (let i = 0; i < candidates.length; i += IMPORT_CHUNK) {
      const position = await this.importChunk(candidates.slice(i, i + IMPORT_CHUNK), metadata, counts, rejects, links, handled);
      // Back-pressure: the projections take this chunk in before the next is appended, so live changes never
      // queue behind a whole import.
      if (position && this.deps.progress) await this.deps.progress.waitFor(this.deps.progress.names, position, 60_000);
    }
    return { links, handled };
  }

  /** One chunk of an import: the claims, then the contacts whose claim was stored. Answers the last position written. */
  private async importChunk(
    candidates: { record: CrmContact; contactId: string; fields: ReturnType<typeof newContactFields> & object; base: StoredLink['base'] }[],
    metadata: ReturnType<typeof metadataFrom>,
    counts: SyncCounts,
    rejects: SyncReject[],
    links: StoredLink[],
    handled: Set<string>,
  ): Promise<string | null> {
    const organizationId = this.integration.organizationId;
    // The chunk's places under the plan's contacts limit, taken at once; records beyond it wait as rejects.
    const bulkId = `crm-import-${randomUUID()}`;
    const granted = this.deps.quotas
      ? await this.deps.quotas.reserve(this.context(null), organizationId, 'contacts', bulkId, candidates.length)
      : null;
    if (granted !== null && granted < candidates.length) {
      const terms = await this.deps.quotas!.termsOf(organizationId, 'contacts');
      for (const c of candidates.slice(granted)) {
        handled.add(c.record.externalId);
        rejects.push({
          direction: 'in',
          externalId: c.record.externalId,
          contactId: null,
          reason: terms ? limitReached(terms.plan.name, terms.limit) : "the plan's contacts limit is reached",
        });
      }
      candidates = candidates.slice(0, granted);
    }
    let made = 0;
    try {
      const last = await this.importClaimed(candidates, metadata, counts, rejects, links, handled);
      made = last.made;
      return last.position;
    } finally {
      // Places of records whose email was claimed before (they go the one-by-one way) or that failed.
      if (granted !== null) await this.deps.quotas!.giveBack(this.context(null), organizationId, 'contacts', bulkId, granted - made);
    }
  }

  /** The claims of a chunk's records, then the contacts whose claim was stored; answers the last position and how many were made. */
  private async importClaimed(
    candidates: { record: CrmContact; contactId: string; fields: ReturnType<typeof newContactFields> & object; base: StoredLink['base'] }[],
    metadata: ReturnType<typeof metadataFrom>,
    counts: SyncCounts,
    rejects: SyncReject[],
    links: StoredLink[],
    handled: Set<string>,
  ): Promise<{ position: string | null; made: number }> {
    const organizationId = this.integration.organizationId;
    if (candidates.length === 0) return { position: null, made: 0 };
    const claims: StreamAppend[] = candidates.map((c) => ({
      streamId: claimStreamId('contactEmail', organizationId, c.fields.email),
      events: [{ id: newEventId(), type: 'ValueClaimed', version: 1, data: { ownerId: c.contactId }, metadata }],
      expectedRevision: 'no_stream',
    }));
    const claimed = await this.deps.streams.appendBulk!(claims);
    const winners = candidates.filter((_, index) => claimed[index]!.status === 'stored');
    if (winners.length === 0) return { position: null, made: 0 };
    const creates: StreamAppend[] = winners.map((c) => {
      const { email, ...rest } = c.fields;
      const events = contactDecider.decide(
        {
          type: 'CreateContact',
          data: { contactId: c.contactId, organizationId, fields: contactFieldsOf({ ...(rest as object), email } as NewContact), tags: [] },
        },
        contactDecider.initialState,
      );
      return {
        streamId: contactStream(c.contactId),
        events: events.map((event) => ({ id: newEventId(), ...event, metadata })),
        expectedRevision: 'no_stream',
      };
    });
    const created = await this.deps.streams.appendBulk!(creates);
    let last: string | null = null;
    let made = 0;
    winners.forEach((c, index) => {
      const outcome = created[index]!;
      handled.add(c.record.externalId);
      if (outcome.status !== 'stored') {
        rejects.push({
          direction: 'in',
          externalId: c.record.externalId,
          contactId: null,
          reason: `could not create the contact (${outcome.status})`,
        });
        return;
      }
      last = outcome.position;
      made += 1;
      counts.created += 1;
      let ledger = { in: {}, out: {} } as StoredLink['ledger'];
      for (const [field, entry] of Object.entries(c.base)) ledger = recordWrite(ledger, 'in', field, entry.value, String(outcome.nextRevision));
      links.push({
        externalId: c.record.externalId,
        contactId: c.contactId,
        base: c.base,
        ledger,
        providerModifiedAt: new Date(c.record.modifiedAt),
      });
    });
    return { position: last, made };
  }

  /** Creates our contact from a record; an email a live contact already has links to that contact instead. */
  private async createOrFind(fields: NonNullable<ReturnType<typeof newContactFields>>): Promise<{ contactId: string; created: boolean }> {
    const input: NewContact = { ...(fields as NewContact), email: fields.email };
    try {
      const made = await this.deps.contacts.create(this.context(null), this.integration.organizationId, input);
      return { contactId: made.id, created: true };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const claim = await this.deps.handler.load(claimStreamId('contactEmail', this.integration.organizationId, fields.email), claimDecider);
      if (!claim.state.ownerId) throw err;
      return { contactId: claim.state.ownerId, created: false };
    }
  }

  /** Provider deletions since the run's start, by the integration's delete policy. */
  private async applyDeletions(from: SyncCursor | null, counts: SyncCounts): Promise<void> {
    const since = nextWindow(from).since;
    let pageToken: string | null = null;
    do {
      const page = await this.call(() => this.provider.client.listDeletedContacts(this.connection, { since, pageToken, pageSize: this.pageSize() }));
      const links = await this.deps.store.linksByExternalId(
        this.integration.id,
        page.items.map((d) => d.externalId),
      );
      for (const link of links.values()) {
        try {
          if (this.integration.settings.deletePolicy === 'delete') {
            await this.deps.contacts.delete(this.context(null), this.integration.organizationId, link.contactId);
          } else {
            await this.deps.contacts.changeTags(this.context(null), this.integration.organizationId, link.contactId, {
              add: [ARCHIVED_TAG],
              remove: [],
            });
          }
          counts.updated += 1;
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      await this.deps.store.removeLinks(this.integration.id, [...links.keys()]);
      pageToken = page.nextPageToken;
    } while (pageToken !== null);
  }

  // ---- Us → provider ----

  private async applyOutbound(changes: OutboundChange[], runId: string, fields: string[] | null, counts: SyncCounts): Promise<void> {
    const links = await this.deps.store.linksByContactId(
      this.integration.id,
      changes.map((c) => c.contactId),
    );
    const rejects: SyncReject[] = [];
    // Deletions, by the delete policy (every provider's delete is recoverable for weeks: recycle bin or archive).
    const gone = changes.filter((c) => c.deleted).flatMap((c) => (links.has(c.contactId) ? [links.get(c.contactId)!] : []));
    if (gone.length > 0) {
      if (this.integration.settings.deletePolicy !== 'ignore') {
        await this.call(() =>
          this.provider.client.deleteContacts(
            this.connection,
            gone.map((l) => l.externalId),
          ),
        );
        counts.updated += gone.length;
      }
      await this.deps.store.removeLinks(
        this.integration.id,
        gone.map((l) => l.externalId),
      );
    }
    const live = changes.filter((c) => !c.deleted);
    if (live.length === 0) return;
    // The provider's side of the linked ones, read fresh: an edit made there since the last poll is merged,
    // not overwritten.
    const linkedIds = live.flatMap((c) => (links.has(c.contactId) ? [links.get(c.contactId)!.externalId] : []));
    const records = new Map<string, CrmContact>();
    for (let i = 0; i < linkedIds.length; i += this.pageSize()) {
      const chunk = linkedIds.slice(i, i + this.pageSize());
      for (const record of await this.call(() => this.provider.client.getContacts(this.connection, chunk, this.theirFields())))
        records.set(record.externalId, record);
    }
    const touched: StoredLink[] = [];
    const writes: { link: StoredLink; write: ContactWrite; writtenOut: Record<string, unknown> }[] = [];
    const run = { runId, direction: this.integration.settings.direction, fields };
    await eachLimited(live, MERGE_CONCURRENCY, async (change) => {
      const link = links.get(change.contactId) ?? null;
      const record = link ? records.get(link.externalId) : undefined;
      counts.read += 1;
      if (link && record) {
        const outcome = await this.mergeRecord(record, link, run, counts, rejects);
        if (!outcome) return;
        touched.push(outcome.link);
        if (outcome.write) writes.push({ link: outcome.link, write: outcome.write, writtenOut: outcome.writtenOut });
        return;
      }
      if (link && !record) {
        // Gone at the provider: the inbound deletions apply the delete policy; until then, nothing is sent.
        counts.skipped += 1;
        return;
      }
      const loaded = await this.deps.handler.load<Contact, ContactEvent>(contactStream(change.contactId), contactDecider);
      if (loaded.state.status !== 'active') return;
      const ours: OurRecord = { fields: pickContactFields(loaded.state), changedAt: lastChangeOf(loaded.events), revision: loaded.revision };
      const merged = reconcile({ ...this.policy(), direction: 'out', fields, ours, theirs: null, link: null });
      for (const r of merged.rejects)
        rejects.push({ direction: 'out', externalId: null, contactId: change.contactId, reason: `${r.field}: ${r.reason}` });
      if (Object.keys(merged.theirChanges).length === 0) return;
      const pendingLink: StoredLink = {
        externalId: '',
        contactId: change.contactId,
        base: merged.base,
        ledger: { in: {}, out: {} },
        providerModifiedAt: null,
      };
      writes.push({ link: pendingLink, write: { externalId: null, fields: merged.theirChanges }, writtenOut: merged.writtenOut });
    });
    touched.push(...(await this.writeOut(writes, counts, rejects)));
    await this.deps.store.saveLinks(
      this.integration.id,
      touched.filter((l) => l.externalId !== ''),
    );
    await this.reject(runId, rejects, counts);
  }

  /** Writes to the provider in batches; answers the links of records it created (and updates the others in place). */
  private async writeOut(
    writes: { link: StoredLink; write: ContactWrite; writtenOut: Record<string, unknown> }[],
    counts: SyncCounts,
    rejects: SyncReject[],
  ): Promise<StoredLink[]> {
    const createdLinks: StoredLink[] = [];
    const batch = this.provider.client.limits.maxWriteBatch;
    for (let i = 0; i < writes.length; i += batch) {
      const chunk = writes.slice(i, i + batch);
      const results = await this.call(() =>
        this.provider.client.writeContacts(
          this.connection,
          chunk.map((w) => w.write),
        ),
      );
      results.forEach((result, index) => {
        const { link, writtenOut } = chunk[index]!;
        if (!result.ok) {
          rejects.push({ direction: 'out', externalId: result.externalId, contactId: link.contactId, reason: result.reason });
          // Not sent: the base stays as it was, so the next run tries again.
          return;
        }
        for (const [field, value] of Object.entries(writtenOut))
          link.ledger = recordWrite(link.ledger, 'out', field, value as never, result.modifiedAt);
        link.providerModifiedAt = new Date(result.modifiedAt);
        if (result.created) {
          link.externalId = result.externalId;
          counts.created += 1;
          createdLinks.push(link);
        } else counts.updated += 1;
      });
    }
    return createdLinks;
  }

  // ---- Helpers ----

  private async reject(runId: string, rejects: SyncReject[], counts: SyncCounts): Promise<void> {
    if (rejects.length === 0) return;
    counts.rejected += rejects.length;
    for (let i = 0; i < rejects.length; i += 1_000) {
      await this.command({
        type: 'RecordRejects',
        data: { ...this.ids(), ...(this.integration.run?.runId === runId ? { runId } : {}), rejects: rejects.slice(i, i + 1_000) },
      });
    }
  }

  /** A provider call, counted against the daily budget; a refused token is refreshed once. */
  private async call<T>(request: () => Promise<T>): Promise<T> {
    const now = this.now();
    const today = now.toISOString().slice(0, 10);
    if (!(await this.deps.store.spendApiCalls(this.integration.id, 1, this.integration.settings.dailyApiBudget, today))) {
      this.deps.metrics?.crmApiCalls.inc({ provider: this.integration.provider, outcome: 'budget_spent' });
      throw new ApiBudgetSpent(new Date(Date.parse(`${today}T00:00:00.000Z`) + 86_400_000));
    }
    try {
      return await this.timed(request);
    } catch (err) {
      if (!(err instanceof CrmUnauthorized)) throw err;
      this.connection = await this.deps.access.connectionFor(this.integration, { refresh: true });
      return this.timed(request);
    }
  }

  private async timed<T>(request: () => Promise<T>): Promise<T> {
    const provider = this.integration.provider;
    const timer = this.deps.metrics?.outboundDuration.startTimer({ target: 'crm' });
    let outcome = 'ok';
    try {
      return await request();
    } catch (err) {
      outcome = crmOutcome(err);
      throw err;
    } finally {
      timer?.({ outcome });
      this.deps.metrics?.crmApiCalls.inc({ provider, outcome });
    }
  }

  /** Adds what the counts gained since last time to the records counter. */
  private emitCounts(counts: SyncCounts): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    for (const name of Object.keys(counts) as (keyof SyncCounts)[]) {
      const gained = counts[name] - (this.emitted[name] ?? 0);
      if (gained > 0) metrics.crmSyncRecords.inc({ provider: this.integration.provider, outcome: name }, gained);
    }
    this.emitted = { ...counts };
  }

  private async command(command: IntegrationCommand): Promise<void> {
    const outcome = await this.deps.handler.handle(integrationStream(this.integration.id), integrationDecider, command, this.context(null), {
      known: this.known,
    });
    this.known = { state: outcome.state, revision: outcome.revision, position: outcome.position };
    if (outcome.state.status === 'connected') this.integration = outcome.state;
  }

  private policy(): { mappings: FieldMapping[]; defaultPolicy: LiveIntegration['settings']['conflictPolicy'] } {
    const mappings = this.integration.mappings.length > 0 ? this.integration.mappings : defaultMappings(this.integration.provider);
    return { mappings, defaultPolicy: this.integration.settings.conflictPolicy };
  }

  private theirFields(): string[] {
    return [...new Set(this.policy().mappings.map((m) => m.theirs))];
  }

  private pageSize(): number {
    return Math.min(this.deps.pageSize ?? 500, this.provider.client.limits.maxPageSize);
  }

  private ids() {
    return { integrationId: this.integration.id, organizationId: this.integration.organizationId };
  }

  private context(runId: string | null): CommandContext {
    return {
      tenantId: this.integration.organizationId,
      actor: { type: 'system', id: syncActorId(this.integration.id) },
      correlationId: runId ?? this.integration.run?.runId ?? randomUUID(),
      causationId: runId ?? randomUUID(),
      now: this.now(),
    };
  }
}

/** A provider call's outcome, as the API-calls counter names it. */
function crmOutcome(err: unknown): string {
  if (err instanceof CrmRateLimited) return 'rate_limited';
  if (err instanceof CrmQuotaExhausted) return 'quota';
  if (err instanceof CrmUnauthorized) return 'unauthorized';
  if (err instanceof CrmUnavailable) return 'unavailable';
  if (err instanceof CrmRequestRejected) return 'rejected';
  return 'failed';
}

/** Runs `work` on every item, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/** When the integration's last run ended, and how. */
function lastRunEnd(events: { type: string; metadata: { occurredAt: string } }[]): { at: number; completed: boolean } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!;
    if (event.type === 'SyncCompleted' || event.type === 'SyncFailed')
      return { at: Date.parse(event.metadata.occurredAt), completed: event.type === 'SyncCompleted' };
  }
  return null;
}

/** When our contact last changed: its last event's time. */
function lastChangeOf(events: { metadata: { occurredAt: string } }[]): string | null {
  return events.length > 0 ? events[events.length - 1]!.metadata.occurredAt : null;
}

function rejectReason(rejects: { field: string; reason: string }[]): string | null {
  const email = rejects.find((r) => r.field === 'email');
  return email ? `email: ${email.reason}` : null;
}

/** A record refused for the plan's contacts limit, said the same whichever way it came in. */
const limitReached = (plan: string, limit: number) => `the plan's contacts limit is reached (${plan} allows ${limit})`;
