import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Actor, RecordedEvent } from '../events.ts';
import { analyticsFactOf } from './analytics-facts.ts';

const tenant = randomUUID();
function recorded(
  type: string,
  data: Record<string, unknown>,
  actor: Actor = { type: 'user', id: 'u-1' },
  tenantId: string | null = tenant,
): RecordedEvent {
  return {
    id: randomUUID(),
    type,
    version: 1,
    data,
    metadata: { tenantId, actor, correlationId: 'c', causationId: 'c', occurredAt: '2026-11-02T10:00:00.000Z' },
    streamId: 's',
    revision: 0,
    position: '1',
    recordedAt: '2026-11-02T10:00:00.000Z',
  } as RecordedEvent;
}
const counted = (event: RecordedEvent) => {
  const fact = analyticsFactOf(event);
  return fact && { metric: fact.metric, quantity: fact.quantity };
};

describe('What each event counts for in analytics', () => {
  it('counts executions started, completed and failed, with their workflow', () => {
    const started = analyticsFactOf(
      recorded('ExecutionStarted', { executionId: 'e', workflowId: 'w', contactId: 'c' }, { type: 'system', id: 'runner' }),
    );
    expect(started).to.include({
      metric: 'executions',
      quantity: 1,
      workflowId: 'w',
      executionId: 'e',
      contactId: 'c',
      tenantId: tenant,
      actorType: 'system',
      userId: '',
    });
    expect(counted(recorded('ExecutionCompleted', { executionId: 'e', workflowId: 'w' }))).to.deep.equal({
      metric: 'executions_completed',
      quantity: 1,
    });
    expect(counted(recorded('ExecutionFailed', { executionId: 'e', workflowId: 'w' }))).to.deep.equal({ metric: 'executions_failed', quantity: 1 });
  });

  it('counts completed steps by what they did: emails, CRM syncs; other steps (the AI step too) are only tracked', () => {
    const step = (stepType: string, output: Record<string, unknown> = {}) =>
      counted(recorded('StepCompleted', { executionId: 'e', workflowId: 'w', stepType, output }));
    expect(step('send_email')).to.deep.equal({ metric: 'emails_sent', quantity: 1 });
    expect(step('ai_compose_email', { tokens: 137 }), "its tokens are the AI service's AiTokensUsed").to.deep.equal({ metric: '', quantity: 1 });
    expect(step('crm_action')).to.deep.equal({ metric: 'integration_syncs', quantity: 1 });
    expect(step('wait')).to.deep.equal({ metric: '', quantity: 1 });
  });

  it("counts AI tokens from the AI service's usage events, every call once", () => {
    const used = (tokens: unknown) => counted(recorded('AiTokensUsed', { organizationId: 'o', tokens, endpoint: 'complete' }));
    expect(used(137)).to.deep.equal({ metric: 'ai_tokens', quantity: 137 });
    expect(used('lots'), 'a malformed count is no tokens').to.deep.equal({ metric: 'ai_tokens', quantity: 0 });
  });

  it('counts API calls by the recorded number, sign-ins, and who joined (for cohorts)', () => {
    expect(counted(recorded('ApiCallsCounted', { organizationId: tenant, calls: 42 }, { type: 'system', id: 'api-usage-meter' }))).to.deep.equal({
      metric: 'api_calls',
      quantity: 42,
    });
    expect(counted(recorded('ApiCallsCounted', { calls: -5 }))).to.deep.equal({ metric: 'api_calls', quantity: 0 });
    expect(analyticsFactOf(recorded('SessionStarted', { userId: 'u-9' }, { type: 'anonymous', id: 'ip' }))).to.include({
      metric: 'logins',
      userId: 'u-9',
    });
    expect(analyticsFactOf(recorded('OrganizationCreated', { ownerUserId: 'owner' }))).to.include({ metric: 'users_joined', userId: 'owner' });
    expect(analyticsFactOf(recorded('MemberJoined', { userId: 'm' }))).to.include({ metric: 'users_joined', userId: 'm' });
  });

  it('tracks every other tenant event once, as activity of the user who acted', () => {
    expect(analyticsFactOf(recorded('ContactTagged', { contactId: 'c', tag: 'vip' }, { type: 'user', id: 'u-2' }))).to.include({
      type: 'ContactTagged',
      metric: '',
      quantity: 1,
      userId: 'u-2',
    });
    expect(analyticsFactOf(recorded('ContactTagged', {}, { type: 'apiKey', id: 'k' }))).to.include({ userId: '', actorType: 'apiKey', actorId: 'k' });
  });

  it('leaves out platform events of no tenant and uniqueness bookkeeping', () => {
    expect(analyticsFactOf(recorded('StaffSignedIn', {}, { type: 'staff', id: 's' }, null))).to.equal(null);
    expect(analyticsFactOf(recorded('ValueClaimed', { ownerId: 'c' }))).to.equal(null);
    expect(analyticsFactOf(recorded('ValueReleased', { ownerId: 'c' }))).to.equal(null);
  });
});
