import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { RecordedEvent } from '../../domain/events.ts';
import type { ExecutionEvent } from '../../domain/workflows/execution.ts';
import { testMetadata } from '../../test/support/events.ts';
import { foldExecution, type ExecutionDocument } from './search-documents.ts';

describe('search documents: an execution', () => {
  const executionId = randomUUID();
  let position = 10;
  const recorded = (event: ExecutionEvent): RecordedEvent<ExecutionEvent> =>
    ({
      ...event,
      id: randomUUID(),
      streamId: `execution-${executionId}`,
      revision: position,
      position: String(++position),
      recordedAt: '2026-12-01T12:00:00.000Z',
      metadata: testMetadata({ occurredAt: '2026-12-01T12:00:00.000Z' }),
    }) as RecordedEvent<ExecutionEvent>;
  const waiting: ExecutionDocument = {
    id: executionId,
    tenantId: 'org-a',
    workflowId: 'w-1',
    workflowName: 'Quarterly',
    contactId: 'c-1',
    contactEmail: 'ada@example.com',
    contactName: 'Ada',
    status: 'waiting',
    cause: 'manual',
    error: null,
    startedAt: '2026-12-01T09:00:00.000Z',
    endedAt: null,
    updatedAt: '2026-12-01T09:00:00.000Z',
    deleted: false,
    version: 3,
  };
  const completion = (started?: boolean): ExecutionEvent => ({
    type: 'StepCompleted',
    version: 2,
    data: {
      executionId,
      workflowId: 'w-1',
      stepId: 'after',
      stepType: 'add_tag',
      attempt: 1,
      output: {},
      nextStepId: 'hello',
      completedAt: '2026-12-01T12:00:00.000Z',
      ...(started
        ? { started: { attempt: 1, idempotencyKey: `${executionId}:after:1`, startedAt: '2026-12-01T12:00:00.000Z', takeover: false } }
        : {}),
    },
  });
  const context = { workflowName: null, contact: null };

  it('is running once a step ran after a wait, whether its start was recorded alone or with its completion', () => {
    const started: ExecutionEvent = {
      type: 'StepStarted',
      version: 1,
      data: {
        executionId,
        stepId: 'after',
        stepType: 'add_tag',
        attempt: 1,
        idempotencyKey: `${executionId}:after:1`,
        startedAt: '2026-12-01T12:00:00.000Z',
        takeover: false,
      },
    };
    expect(foldExecution(waiting, recorded(started), context)).to.include({ status: 'running' });
    expect(foldExecution(waiting, recorded(completion(true)), context)).to.include({ status: 'running' });
    // A completion alone (its start was folded in before) changes nothing but the version.
    const alone = foldExecution(waiting, recorded(completion(false)), context)!;
    expect(alone).to.deep.equal({ ...waiting, version: alone.version });
    expect(alone.version).to.be.greaterThan(waiting.version);
  });
});
