import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';
import { entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import {
  ExecutionStepViewSchema,
  ExecutionViewSchema,
  WorkflowViewSchema,
  type ExecutionView,
  type WorkflowView,
} from '../../projectors/workflows/workflow-views.ts';
import { pageByCreation, pageByTime, pageQuery, pageSchema } from '../paging.ts';
import { scopedEntityManager } from '../scoped-entity-manager.ts';

const executionStatuses = ['running', 'waiting', 'paused', 'completed', 'failed', 'cancelled', 'exited'] as const;

const workflowSummary = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  status: z.enum(['active', 'paused']),
  version: z.number().int(),
  triggerType: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const workflowSchema = workflowSummary.extend({ definition: z.record(z.string(), z.unknown()), revision: z.number().int() });

const executionSummary = z.object({
  id: z.string(),
  workflowId: z.string(),
  version: z.number().int().describe('The workflow version it runs (edits never change it)'),
  contactId: z.string(),
  status: z.enum(executionStatuses),
  currentStepId: z.string().nullable(),
  waitReason: z.string().nullable(),
  dueAt: z.string().nullable().describe('When it runs next'),
  cause: z.object({ type: z.string(), id: z.string() }),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  exitReason: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
});
const stepSchema = z.object({
  seq: z.number().int(),
  stepId: z.string(),
  stepType: z.string(),
  attempt: z.number().int(),
  status: z.enum(['running', 'completed', 'failed']),
  idempotencyKey: z.string(),
  takeover: z.boolean().describe('Taken over from a runner that stopped during the step'),
  input: z.record(z.string(), z.unknown()).nullable(),
  output: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
});
const executionDetail = executionSummary.extend({
  steps: z.array(stepSchema),
  timeline: z.array(z.record(z.string(), z.unknown())).describe('Waits, retries, pauses, resumes, exits and cancellations, in order'),
  revision: z.number().int(),
});

function toWorkflowSummary(w: WorkflowView) {
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    status: w.status,
    version: w.version,
    triggerType: w.triggerType,
    createdAt: w.createdAt.toISOString(),
    updatedAt: w.updatedAt.toISOString(),
  };
}

function toExecutionSummary(e: ExecutionView) {
  return {
    id: e.id,
    workflowId: e.workflowId,
    version: e.version,
    contactId: e.contactId,
    status: e.status,
    currentStepId: e.currentStepId,
    waitReason: e.waitReason,
    dueAt: e.dueAt?.toISOString() ?? null,
    cause: { type: e.causeType, id: e.causeId },
    error: e.error,
    exitReason: e.exitReason,
    startedAt: e.startedAt.toISOString(),
    endedAt: e.endedAt?.toISOString() ?? null,
    durationMs: e.durationMs === null ? null : Number(e.durationMs),
  };
}

async function liveWorkflow(em: EntityManager, id: string): Promise<WorkflowView> {
  const workflow = await em.findOne(WorkflowViewSchema, { id, status: { $ne: 'deleted' } });
  if (!workflow) throw new NotFoundError('Workflow');
  return workflow;
}

export function workflowQueryRoutes(orm: MikroORM): AnyRoute[] {
  return [
    defineRoute({
      method: 'get',
      path: '/workflows',
      operationId: 'listWorkflows',
      summary: "Your organization's workflows, oldest first",
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['workflows'],
      query: z.strictObject({ ...pageQuery, status: z.enum(['active', 'paused'], { error: 'must be active or paused' }).optional() }),
      responses: {
        200: { description: 'A page of workflows', schema: z.object({ data: z.array(workflowSummary), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
      },
      async handler(ctx, { query }) {
        const where = query.status ? { status: query.status } : { status: { $ne: 'deleted' as const } };
        const { items, page } = await pageByCreation(scopedEntityManager(orm, ctx), WorkflowViewSchema, where, query);
        ctx.body = { data: items.map(toWorkflowSummary), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/workflows/:id',
      operationId: 'getWorkflow',
      summary: 'One workflow, with its latest definition',
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['workflows'],
      responses: {
        200: { description: 'The workflow', schema: workflowSchema, headers: { ETag: 'Revision, for If-Match on PUT' } },
        404: { description: 'No such workflow in your organization' },
      },
      async handler(ctx, { params }) {
        const workflow = await liveWorkflow(scopedEntityManager(orm, ctx), entityIdOf(params, 'Workflow'));
        ctx.set('ETag', `"${workflow.revision}"`);
        ctx.body = { ...toWorkflowSummary(workflow), definition: workflow.definition, revision: workflow.revision };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/workflows/:id/executions',
      operationId: 'listExecutions',
      summary: "A workflow's executions, newest first, by status and start date",
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['workflows', 'executions'],
      query: z.strictObject({
        ...pageQuery,
        status: z.enum(executionStatuses, { error: `must be one of ${executionStatuses.join(', ')}` }).optional(),
        contactId: z.uuid({ error: 'must be a contact id' }).optional(),
        startedFrom: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
        startedTo: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }).optional(),
      }),
      responses: {
        200: { description: 'A page of executions', schema: z.object({ data: z.array(executionSummary), page: pageSchema }) },
        400: { description: 'Invalid query parameter (named in `invalid-params`)' },
        404: { description: 'No such workflow in your organization' },
      },
      async handler(ctx, { params, query }) {
        const em = scopedEntityManager(orm, ctx);
        const workflow = await liveWorkflow(em, entityIdOf(params, 'Workflow'));
        const startedAt = {
          ...(query.startedFrom ? { $gte: new Date(query.startedFrom) } : {}),
          ...(query.startedTo ? { $lt: new Date(query.startedTo) } : {}),
        };
        const where = {
          workflowId: workflow.id,
          ...(query.status ? { status: query.status } : {}),
          ...(query.contactId ? { contactId: query.contactId.toLowerCase() } : {}),
          ...(Object.keys(startedAt).length > 0 ? { startedAt } : {}),
        };
        const { items, page } = await pageByTime(em, ExecutionViewSchema, where, query, 'startedAt', 'desc');
        ctx.body = { data: items.map(toExecutionSummary), page };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/workflows/:id/executions/:execId',
      operationId: 'getExecution',
      summary: 'One execution: its status, and every step attempt with inputs, outputs, errors and timings',
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['executions'],
      responses: {
        200: { description: 'The execution', schema: executionDetail },
        404: { description: 'No such execution of this workflow in your organization' },
      },
      async handler(ctx, { params }) {
        const em = scopedEntityManager(orm, ctx);
        const workflowId = entityIdOf(params, 'Workflow');
        const execution = await em.findOne(ExecutionViewSchema, { id: entityIdOf(params, 'Execution', 'execId'), workflowId });
        if (!execution) throw new NotFoundError('Execution');
        const steps = await em.find(ExecutionStepViewSchema, { executionId: execution.id }, { orderBy: { seq: 'asc' } });
        ctx.set('Cache-Control', 'private, no-cache');
        ctx.body = {
          ...toExecutionSummary(execution),
          steps: steps.map((s) => ({
            seq: s.seq,
            stepId: s.stepId,
            stepType: s.stepType,
            attempt: s.attempt,
            status: s.status,
            idempotencyKey: s.idempotencyKey,
            takeover: s.takeover,
            input: s.input,
            output: s.output,
            error: s.error,
            startedAt: s.startedAt.toISOString(),
            endedAt: s.endedAt?.toISOString() ?? null,
            durationMs: s.durationMs,
          })),
          timeline: execution.timeline,
          revision: execution.revision,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/workflows/:id/stats',
      operationId: 'getWorkflowStats',
      summary: "A workflow's runs: counts by status, success rate, median duration",
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:read',
      readModels: ['workflows', 'executions'],
      responses: {
        200: {
          description: 'Statistics over every execution of the workflow',
          schema: z.object({
            runs: z.number().int(),
            byStatus: z.record(z.string(), z.number().int()),
            successRate: z.number().nullable().describe('completed / (completed + failed), null before any ended'),
            medianDurationMs: z.number().nullable().describe('Of completed executions'),
          }),
        },
        404: { description: 'No such workflow in your organization' },
      },
      async handler(ctx, { params }) {
        const em = scopedEntityManager(orm, ctx);
        const workflow = await liveWorkflow(em, entityIdOf(params, 'Workflow'));
        const counts = await Promise.all(executionStatuses.map((status) => em.count(ExecutionViewSchema, { workflowId: workflow.id, status })));
        const byStatus = Object.fromEntries(executionStatuses.map((status, i) => [status, counts[i]!]));
        const completed = byStatus.completed!;
        const failed = byStatus.failed!;
        // The median through the same scoped EntityManager (no raw SQL around the tenant filter).
        const middle =
          completed > 0
            ? await em.find(
                ExecutionViewSchema,
                { workflowId: workflow.id, status: 'completed' },
                { orderBy: { durationMs: 'asc' }, offset: Math.floor((completed - 1) / 2), limit: 2 - (completed % 2), fields: ['durationMs'] },
              )
            : [];
        const medianDurationMs = middle.length > 0 ? middle.reduce((sum, e) => sum + Number(e.durationMs), 0) / middle.length : null;
        ctx.body = {
          runs: counts.reduce((a, b) => a + b, 0),
          byStatus,
          successRate: completed + failed > 0 ? completed / (completed + failed) : null,
          medianDurationMs,
        };
      },
    }),
  ];
}
