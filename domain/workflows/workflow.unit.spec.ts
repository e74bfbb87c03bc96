import { NotFoundError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import type { WorkflowDefinition } from './definition.ts';
import { workflowDecider, type WorkflowEvent } from './workflow.ts';

const spec = deciderSpec(workflowDecider);
const definition = (subject: string): WorkflowDefinition => ({
  trigger: { type: 'manual' },
  settings: { timezone: 'UTC', exitOn: [], exitAction: 'stop', mailbox: 'sales@acme.test' },
  steps: [{ id: 'a', type: 'send_email', config: { subject, body: 'x' }, next: null }],
});
const created: WorkflowEvent = {
  type: 'WorkflowCreated',
  version: 1,
  data: { workflowId: 'w-1', organizationId: 'org-a', name: 'Nurture', description: null, version: 1, definition: definition('v1') },
};
const update = (subject: string, organizationId = 'org-a') => ({
  type: 'UpdateWorkflow' as const,
  data: { workflowId: 'w-1', organizationId, name: 'Nurture', description: null, definition: definition(subject) },
});

describe('Workflow decider', () => {
  it('versions every change and records nothing for an identical save', () => {
    spec
      .given(created)
      .when(update('v2'))
      .then([{ type: 'WorkflowUpdated', version: 1, data: { ...update('v2').data, version: 2 } }]);
    spec.given(created).when(update('v1')).thenNothing();
    const state = spec.given(created, { type: 'WorkflowUpdated', version: 1, data: { ...update('v2').data, version: 2 } }).state();
    if (state.status === 'absent' || state.versions[1]!.steps[0]!.config.subject !== 'v1') throw new Error('version 1 must stay as it was');
  });

  it('pauses and resumes once each, and a deleted workflow is gone', () => {
    const ids = { workflowId: 'w-1', organizationId: 'org-a' };
    spec
      .given(created)
      .when({ type: 'PauseWorkflow', data: ids })
      .then([{ type: 'WorkflowPaused', version: 1, data: ids }]);
    spec.given(created, { type: 'WorkflowPaused', version: 1, data: ids }).when({ type: 'PauseWorkflow', data: ids }).thenNothing();
    spec.given(created).when({ type: 'ResumeWorkflow', data: ids }).thenNothing();
    spec.given(created, { type: 'WorkflowDeleted', version: 1, data: ids }).when(update('v2')).thenError(NotFoundError);
  });

  it("reports another organization's workflow as missing", () => {
    spec.given(created).when(update('v2', 'org-b')).thenError(NotFoundError);
  });
});
