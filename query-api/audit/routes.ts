import { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { auditedEntities, isAuditedEntityType, replay, type ReplayLimit } from '../../domain/audit/entities.ts';
import type { EventStreams } from '../../command-api/ports.ts';
import { isInt64Digits } from '../../infra/eventstore/envelope.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import type { GlobalEventLog } from '../../projectors/ports.ts';
import { pageSchema } from '../paging.ts';
import { auditColumns, auditEvents, auditRecordOf, type AuditSource } from './audit-events.ts';
import { auditLogPage, auditLogEntrySchema } from './audit-log.ts';

const DAY_MS = 86_400_000;
const MAX_EXPORT_DAYS = 400;
const instant = (name: string) => z.iso.datetime({ offset: true, error: `must be an ISO 8601 date-time (${name})` });

const tenantTypes = Object.entries(auditedEntities)
  .filter(([, entity]) => entity.tenantVisible)
  .map(([type]) => type);

/**
 * The organization's audit trail (owners and admins): the log of who did what and when, from the audit read
 * model; one entity's state at any moment, replayed from its stream; and the whole trail as a file.
 */
export function auditQueryRoutes(
  orm: MikroORM,
  log: Pick<EventStreams, 'readStream'> & Pick<GlobalEventLog, 'comparePositions' | 'isValidPosition'>,
  exports: AuditSource,
): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/audit',
      operationId: 'listAuditLog',
      summary: 'Who did what and when in the organization, newest first, filtered and paged',
      tag: 'Audit',
      auth: 'bearer',
      permission: 'audit:read',
      readModels: ['audit'],
      query: z.strictObject({
        entity: z.string().min(1).max(300).optional().describe('An entity id, or a stream id such as contact-<id>'),
        actor: z.string().min(1).max(200).optional().describe('The id of the user, API key or staff member who acted'),
        type: z
          .string()
          .regex(/^[A-Za-z]{1,100}$/, 'must be an event type such as ContactCreated')
          .optional(),
        from: instant('from').optional().describe('Happened at or after'),
        to: instant('to').optional().describe('Happened before'),
        limit: z.coerce
          .number({ error: 'must be a number' })
          .int('must be an integer')
          .min(1, 'must be at least 1')
          .max(200, 'must be at most 200')
          .default(50),
        cursor: z
          .string()
          .regex(/^\d{1,19}$/, 'must be the nextCursor of a previous page')
          .refine(isInt64Digits, 'must be the nextCursor of a previous page')
          .optional(),
      }),
      responses: {
        200: { description: 'A page of audit entries, newest first', schema: z.object({ data: z.array(auditLogEntrySchema), page: pageSchema }) },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to))
          throw new ValidationError([{ name: 'to', reason: 'must be after from' }]);
        ctx.body = await auditLogPage(orm, authOf(ctx).organizationId, query);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/audit/entities/:type/:id',
      operationId: 'getEntityAtTime',
      summary: "An entity's state at a moment (or log position), replayed from its events",
      tag: 'Audit',
      auth: 'bearer',
      permission: 'audit:read',
      query: z.strictObject({
        at: z.string().max(100).optional().describe('An ISO 8601 date-time, or a log position. Default: now'),
        steps: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false').describe('Also list the state after each event'),
      }),
      responses: {
        200: {
          description: 'The state after the last event at or before `at`',
          schema: z.object({
            type: z.string(),
            id: z.string(),
            at: z.string().nullable(),
            revision: z.number().int(),
            position: z.string(),
            occurredAt: z.string(),
            events: z.number().int(),
            state: z.unknown(),
            steps: z.array(z.unknown()).optional(),
          }),
        },
        400: { description: 'Unknown type or a malformed `at`' },
        404: { description: 'No such entity in the organization, or it did not exist yet at that moment' },
      },
      async handler(ctx, { params, query }) {
        const organizationId = authOf(ctx).organizationId;
        if (!isAuditedEntityType(params.type!) || !tenantTypes.includes(params.type)) {
          throw new ValidationError([{ name: 'type', reason: `must be one of ${tenantTypes.join(', ')}` }]);
        }
        if (!/^[A-Za-z0-9._:-]{1,200}$/.test(params.id!)) throw new ValidationError([{ name: 'id', reason: 'must be an id' }]);
        const entity = auditedEntities[params.type];
        let limit: ReplayLimit = null;
        if (query.at !== undefined) {
          if (z.iso.datetime({ offset: true }).safeParse(query.at).success) limit = { at: new Date(query.at) };
          else if (log.isValidPosition(query.at)) limit = { position: query.at, compare: (a, b) => log.comparePositions(a, b) };
          else throw new ValidationError([{ name: 'at', reason: 'must be an ISO 8601 date-time or a log position' }]);
        }
        const events = await log.readStream(entity.stream(params.id!));
        // Another organization's entity is "not found", exactly like a missing one.
        if (events.length === 0 || events[0]!.metadata.tenantId !== organizationId)
          throw new NotFoundError(params.type!.charAt(0).toUpperCase() + params.type!.slice(1));
        const steps = replay(entity.fold, events, limit);
        const last = steps[steps.length - 1];
        if (!last) throw new NotFoundError(params.type!, `${params.type} ${params.id} did not exist yet at ${query.at}`, 'not_yet');
        ctx.body = {
          type: params.type,
          id: params.id,
          at: query.at ?? null,
          revision: last.revision,
          position: last.position,
          occurredAt: last.occurredAt,
          events: steps.length,
          state: last.state,
          ...(query.steps === 'true' ? { steps } : {}),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/audit/export',
      operationId: 'exportAuditTrail',
      summary: "The organization's events of a range, oldest first, as JSON lines (or CSV), streamed",
      tag: 'Audit',
      auth: 'bearer',
      permission: 'audit:read',
      query: z.strictObject({
        from: instant('from').optional().describe('Happened at or after. Default: 30 days before `to`'),
        to: instant('to').optional().describe('Happened before. Default: now'),
        format: z.enum(['jsonl', 'csv'], { error: 'must be jsonl or csv' }).default('jsonl'),
      }),
      responses: {
        200: { description: `One event per line: ${auditColumns.join(', ')} (secrets redacted)`, contentType: 'application/x-ndjson' },
        400: { description: 'Invalid parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const to = query.to ? new Date(query.to) : new Date();
        const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
        if (from >= to) throw new ValidationError([{ name: query.to ? 'to' : 'from', reason: 'must be after from' }]);
        if (to.getTime() - from.getTime() > MAX_EXPORT_DAYS * DAY_MS)
          throw new ValidationError([{ name: 'from', reason: `the range may span at most ${MAX_EXPORT_DAYS} days` }]);
        const range = { tenantId: authOf(ctx).organizationId, from: from.toISOString(), to: to.toISOString() };
        const events = auditEvents(exports, range);
        // The first event is read before answering: a store that is down is a 503, not a 200 cut short.
        const first = await events.next();
        const format = query.format;
        const lines = Readable.from(
          (async function* () {
            for (let next = first; !next.done; next = await events.next()) {
              const record = auditRecordOf(next.value);
              yield format === 'csv' ? { ...record, data: JSON.stringify(record.data) } : `${JSON.stringify(record)}\n`;
            }
          })(),
        );
        ctx.set('Content-Disposition', `attachment; filename="nexusflow-audit-${range.from.slice(0, 10)}-${range.to.slice(0, 10)}.${format}"`);
        ctx.set('Cache-Control', 'private, no-store');
        if (format === 'csv') {
          ctx.type = 'text/csv; charset=utf-8';
          ctx.body = lines.pipe(stringify({ header: true, columns: [...auditColumns] }));
        } else {
          ctx.type = 'application/x-ndjson; charset=utf-8';
          ctx.body = lines;
        }
      },
    }),
  ];
}
