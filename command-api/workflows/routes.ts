import { z } from 'zod';
import { authOf } from '../../infra/http/authenticate.ts';
import { commandResultSchema, entityIdOf } from '../../infra/http/fields.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { commandContextOf, expectedRevisionFrom, ifMatchHeader, respondWithOutcome } from '../http.ts';
import { exampleWorkflow } from './example.ts';
import type { ExecutionCommands } from './execution-commands.ts';
import type { ExecutionStarter } from './execution-starter.ts';
import { backfillBody, runBody, workflowBody, workflowFreeText } from './schemas.ts';
import type { WorkflowCommands, WorkflowOutcome } from './workflow-commands.ts';

const problems = {
  400: { description: 'Invalid input; `invalid-params` names each bad field (for a definition: its path, e.g. steps.2.next)' },
  404: { description: 'No such workflow (or execution) in your organization' },
};
const limitReached = (what: string) => ({
  402: { description: `The plan's active-workflows limit is reached (plan_limit_reached): ${what}; or the organization is restricted` },
});
const versionedResult = commandResultSchema.extend({ version: z.number().int().describe('The workflow version this is') });

function respondWithVersion(ctx: Parameters<AnyRoute['handler']>[0], outcome: WorkflowOutcome, status = 200): void {
  respondWithOutcome(ctx, outcome.id, outcome, status);
  ctx.body = { ...(ctx.body as object), version: outcome.version };
}

export function workflowCommandRoutes(workflows: WorkflowCommands, starter: ExecutionStarter, executions: ExecutionCommands): AnyRoute[] {
  const change = (
    path: string,
    operationId: string,
    summary: string,
    command: 'PauseWorkflow' | 'ResumeWorkflow' | 'DeleteWorkflow',
    method: 'post' | 'delete',
    more: { description?: string; responses?: Record<number, { description: string }> } = {},
  ) =>
    defineRoute({
      method,
      path,
      operationId,
      summary,
      ...(more.description ? { description: more.description } : {}),
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:write',
      responses: { 200: { description: 'Done (or already so)', schema: versionedResult }, ...problems, ...more.responses },
      async handler(ctx, { params }) {
        const id = entityIdOf(params, 'Workflow');
        respondWithVersion(ctx, await workflows.change(commandContextOf(ctx), authOf(ctx).organizationId, id, command));
      },
    });
  const executionAction = (action: 'pause' | 'resume' | 'cancel', summary: string) =>
    defineRoute({
      method: 'post',
      path: `/workflows/:id/executions/:execId/${action}`,
      operationId: `${action}Execution`,
      summary,
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:run',
      responses: {
        200: { description: 'Done (or already so)', schema: commandResultSchema },
        ...problems,
        409: { description: 'The execution has already ended' },
      },
      async handler(ctx, { params }) {
        const workflowId = entityIdOf(params, 'Workflow');
        const executionId = entityIdOf(params, 'Execution', 'execId');
        const outcome = await executions.act(
          commandContextOf(ctx),
          workflowId,
          executionId,
          action,
          `${action} by ${authOf(ctx).kind === 'user' ? 'a user' : 'an API key'}`,
        );
        respondWithOutcome(ctx, executionId, outcome);
      },
    });
  return [
    defineRoute({
      method: 'post',
      path: '/workflows',
      operationId: 'createWorkflow',
      summary: 'Create a workflow (version 1)',
      description:
        'The definition is checked as a graph: known step types with valid configuration, every next/branch pointing at a step, ' +
        'every step reachable, no cycle without a wait. The example can be posted as is, then run with POST /workflows/{id}/run. ' +
        'A new workflow is active: a plan that limits active workflows refuses the one beyond its limit (402 plan_limit_reached, with ' +
        'the limit, your usage, the plan and where to upgrade); pausing or deleting an active workflow frees its place.',
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:write',
      body: workflowBody,
      freeText: workflowFreeText,
      bodyExample: exampleWorkflow,
      responses: {
        201: { description: 'Created', schema: versionedResult, headers: { Location: 'URL of the workflow' } },
        400: problems[400],
        ...limitReached('a new workflow starts active'),
      },
      async handler(ctx, { body }) {
        const outcome = await workflows.create(commandContextOf(ctx), authOf(ctx).organizationId, body);
        ctx.set('Location', `/workflows/${outcome.id}`);
        respondWithVersion(ctx, outcome, 201);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/workflows/:id',
      operationId: 'updateWorkflow',
      summary: 'Replace a workflow definition: a new version (running executions keep theirs)',
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:write',
      body: workflowBody,
      freeText: workflowFreeText,
      bodyExample: exampleWorkflow,
      headers: [ifMatchHeader],
      responses: {
        200: { description: 'Saved as a new version (or unchanged)', schema: versionedResult },
        ...problems,
        409: { description: 'Stale If-Match revision' },
      },
      async handler(ctx, { body, params }) {
        const id = entityIdOf(params, 'Workflow');
        respondWithVersion(ctx, await workflows.update(commandContextOf(ctx), authOf(ctx).organizationId, id, body, expectedRevisionFrom(ctx)));
      },
    }),
    change('/workflows/:id', 'deleteWorkflow', 'Delete a workflow: its running executions are cancelled', 'DeleteWorkflow', 'delete', {
      description: "Deleting an active workflow frees its place in the plan's active-workflows limit (a paused one held none).",
    }),
    change('/workflows/:id/pause', 'pauseWorkflow', 'Pause a workflow: no new executions start, running ones pause', 'PauseWorkflow', 'post', {
      description: "A paused workflow is not active: pausing frees its place in the plan's active-workflows limit.",
    }),
    change('/workflows/:id/resume', 'resumeWorkflow', 'Resume a paused workflow and the executions its pause paused', 'ResumeWorkflow', 'post', {
      description:
        'Resuming makes the workflow active again: a plan that limits active workflows refuses it beyond its limit (402 ' +
        'plan_limit_reached, with the limit, your usage, the plan and where to upgrade). Resuming an active one is already so.',
      responses: limitReached('resuming would go beyond it'),
    }),
    defineRoute({
      method: 'post',
      path: '/workflows/:id/run',
      operationId: 'runWorkflow',
      summary: 'Run the workflow for one contact',
      description:
        'Answers 202 with the execution id at once; the runner takes it from there. Follow it with GET /workflows/{id}/executions/{executionId}. ' +
        "Each execution counts against the plan's executions per billing period: beyond it, 402 plan_limit_reached (triggers and schedules start none either).",
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:run',
      body: runBody,
      bodyExample: { contactId: '2b7f9a1e-8c4d-4e2a-9f61-0d5c3b7a8e90' },
      responses: {
        202: {
          description: 'Started',
          schema: z.object({
            executionId: z.string(),
            position: z.string().nullable().describe('Send as X-Min-Position to read the execution back'),
          }),
          headers: { Location: 'URL of the execution' },
        },
        ...problems,
        402: { description: "The plan's executions for this billing period are spent (plan_limit_reached)" },
        409: { description: 'The workflow is paused' },
      },
      async handler(ctx, { body, params }) {
        const workflowId = entityIdOf(params, 'Workflow');
        const context = commandContextOf(ctx);
        const started = await starter.start(context, {
          organizationId: authOf(ctx).organizationId,
          workflowId,
          contactId: body.contactId.toLowerCase(),
          cause: { type: 'manual', id: context.causationId },
        });
        ctx.status = 202;
        ctx.set('Location', `/workflows/${workflowId}/executions/${started.executionId}`);
        ctx.body = { executionId: started.executionId, position: started.position };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/workflows/:id/backfill',
      operationId: 'backfillWorkflow',
      summary: "Make a scheduled workflow's firings in a past range (e.g. after downtime beyond the catch-up window)",
      description: 'Firings that already happened start nothing again: each (firing, contact) starts at most one execution.',
      tag: 'Workflows',
      auth: 'bearer',
      permission: 'workflows:run',
      body: backfillBody,
      bodyExample: { from: '2026-11-30T00:00:00Z', to: '2026-12-01T00:00:00Z' },
      responses: {
        202: { description: 'Accepted; the firings are made in the background', schema: versionedResult },
        ...problems,
        422: { description: 'Not a scheduled workflow, or a range in the future' },
      },
      async handler(ctx, { body, params }) {
        const id = entityIdOf(params, 'Workflow');
        respondWithVersion(ctx, await workflows.backfill(commandContextOf(ctx), authOf(ctx).organizationId, id, body), 202);
      },
    }),
    executionAction('pause', 'Pause one execution (a wait keeps its remaining time)'),
    executionAction('resume', 'Resume one paused execution'),
    executionAction('cancel', 'Cancel one execution'),
  ];
}
