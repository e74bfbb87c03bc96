import { expect } from 'chai';
import { validateDefinition, type DefinitionProblem } from './validation.ts';

const problemsOf = (input: unknown): DefinitionProblem[] => {
  const result = validateDefinition(input);
  return 'problems' in result ? result.problems : [];
};
const names = (input: unknown) => problemsOf(input).map((p) => p.name);

const email = (id: string, next: string | null = null) => ({ id, type: 'send_email', config: { subject: 'Hi {{contact.firstName}}', body: 'Hello' }, next });

describe('Workflow definitions are validated as graphs', () => {
  it('accepts a multi-step workflow with a branch and a wait, filling in defaults', () => {
    const result = validateDefinition({
      steps: [
        email('welcome', 'pause'),
        { id: 'pause', type: 'wait', config: { duration: 'P2D' }, next: 'vip' },
        { id: 'vip', type: 'condition', config: { rules: [{ field: 'tags', operator: 'contains', value: 'vip' }] }, branches: { true: 'tag', false: null } },
        { id: 'tag', type: 'add_tag', config: { tag: 'hot' } },
      ],
    });
    expect(result).to.have.property('definition');
    if (!('definition' in result)) return;
    expect(result.definition.trigger).to.deep.equal({ type: 'manual' });
    expect(result.definition.settings).to.include({ timezone: 'UTC', exitAction: 'stop' });
    expect(result.definition.steps[2]!.config).to.deep.include({ match: 'all' });
  });

  it('names unknown step types and bad configuration by path', () => {
    expect(names({ steps: [{ id: 'a', type: 'teleport', config: {} }] })).to.deep.equal(['steps.0.type']);
    expect(names({ steps: [{ id: 'a', type: 'send_email', config: { subject: '' } }] })).to.include.members(['steps.0.config.subject', 'steps.0.config.body']);
    expect(names({ steps: [{ id: 'a', type: 'wait', config: { duration: 'soon' } }] })).to.deep.equal(['steps.0.config.duration']);
    expect(names({ steps: [] })).to.deep.equal(['steps']);
    expect(names({ steps: [email('a')], extra: 1 })).to.deep.equal(['extra']);
  });

  it('refuses dangling next and branches, missing branches, and duplicate ids', () => {
    expect(names({ steps: [email('a', 'nowhere')] })).to.deep.equal(['steps.0.next']);
    expect(names({ steps: [{ id: 'c', type: 'condition', config: { rules: [{ field: 'email', operator: 'exists' }] }, branches: { true: 'x' } }] })).to.include.members([
      'steps.0.branches',
      'steps.0.branches.false',
    ]);
    expect(names({ steps: [email('a', 'b'), email('a')] })).to.include('steps.1.id');
    expect(names({ steps: [{ id: 'c', type: 'condition', config: { rules: [{ field: 'email', operator: 'exists' }] }, next: null, branches: { true: null, false: null } }] })).to.deep.equal([
      'steps.0.next',
    ]);
  });

  it('refuses a cycle without a wait, and accepts one through a wait', () => {
    const loop = [email('a', 'b'), email('b', 'a')];
    const problems = problemsOf({ steps: loop });
    expect(problems).to.have.length(1);
    expect(problems[0]!.reason).to.match(/cycle without a wait/);
    expect(names({ steps: [email('a', 'w'), { id: 'w', type: 'wait', config: { duration: 'P1D' }, next: 'a' }] })).to.deep.equal([]);
  });

  it('refuses steps nothing leads to', () => {
    expect(names({ steps: [email('a'), email('orphan')] })).to.deep.equal(['steps.1']);
  });

  it('checks triggers: cron, time zone, events', () => {
    const steps = [email('a')];
    expect(names({ trigger: { type: 'schedule', cron: '0 9 * * 1-5', timezone: 'Europe/Paris', audienceTag: 'weekly' }, steps })).to.deep.equal([]);
    expect(names({ trigger: { type: 'schedule', cron: 'every day', timezone: 'Mars/Olympus', audienceTag: 'x' }, steps })).to.include.members([
      'trigger.cron',
      'trigger.timezone',
    ]);
    expect(names({ trigger: { type: 'event', event: 'contact.tag_added', tag: 'vip' }, steps })).to.deep.equal([]);
    expect(names({ trigger: { type: 'event', event: 'contact.exploded' }, steps })).to.include('trigger.event');
    expect(names({ settings: { sendWindow: { days: ['mon'], start: '17:00', end: '09:00' } }, steps })).to.deep.equal(['settings.sendWindow.end']);
  });
});
