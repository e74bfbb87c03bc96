import { expect } from 'chai';
import { validateDefinition, type DefinitionProblem } from './validation.ts';

const problemsOf = (input: unknown): DefinitionProblem[] => {
  const result = validateDefinition(input);
  return 'problems' in result ? result.problems : [];
};
const names = (input: unknown) => problemsOf(input).map((p) => p.name);

const email = (id: string, next: string | null = null) => ({
  id,
  type: 'send_email',
  config: { subject: 'Hi {{contact.firstName}}', body: 'Hello' },
  next,
});

describe('Workflow definitions are validated as graphs', () => {
  it('accepts a multi-step workflow with a branch and a wait, filling in defaults', () => {
    const result = validateDefinition({
      steps: [
        email('welcome', 'pause'),
        { id: 'pause', type: 'wait', config: { duration: 'P2D' }, next: 'vip' },
        {
          id: 'vip',
          type: 'condition',
          config: { rules: [{ field: 'tags', operator: 'contains', value: 'vip' }] },
          branches: { true: 'tag', false: null },
        },
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
    expect(names({ steps: [{ id: 'a', type: 'send_email', config: { subject: '' } }] })).to.include.members([
      'steps.0.config.subject',
      'steps.0.config.body',
    ]);
    expect(names({ steps: [{ id: 'a', type: 'wait', config: { duration: 'soon' } }] })).to.deep.equal(['steps.0.config.duration']);
    expect(names({ steps: [] })).to.deep.equal(['steps']);
    expect(names({ steps: [email('a')], extra: 1 })).to.deep.equal(['extra']);
  });

  it('refuses dangling next and branches, missing branches, and duplicate ids', () => {
    expect(names({ steps: [email('a', 'nowhere')] })).to.deep.equal(['steps.0.next']);
    expect(
      names({ steps: [{ id: 'c', type: 'condition', config: { rules: [{ field: 'email', operator: 'exists' }] }, branches: { true: 'x' } }] }),
    ).to.include.members(['steps.0.branches', 'steps.0.branches.false']);
    expect(names({ steps: [email('a', 'b'), email('a')] })).to.include('steps.1.id');
    expect(
      names({
        steps: [
          {
            id: 'c',
            type: 'condition',
            config: { rules: [{ field: 'email', operator: 'exists' }] },
            next: null,
            branches: { true: null, false: null },
          },
        ],
      }),
    ).to.deep.equal(['steps.0.next']);
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

describe('Workflow definitions are bounded on save', () => {
  const waitFor = (duration: string) => ({ steps: [{ id: 'w', type: 'wait', config: { duration } }] });
  const problemAt = (input: unknown, name: string) => problemsOf(input).find((p) => p.name === name);

  it('refuses a wait longer than a year, named by its path', () => {
    for (const duration of ['P300000Y', 'P366D', 'P1Y1D', 'P53W', 'PT8761H']) {
      expect(problemsOf(waitFor(duration)), duration).to.deep.equal([
        { name: 'steps.0.config.duration', reason: 'must be at most 1 year (P1Y, or 365 days)' },
      ]);
    }
  });

  it('refuses a zero, sub-second or negative wait (what a cycle would spin on)', () => {
    for (const duration of ['P0D', 'PT0S', 'PT0.5S', 'PT0.999S', 'PT-1S']) {
      expect(names(waitFor(duration)), duration).to.deep.equal(['steps.0.config.duration']);
      expect(problemAt(waitFor(duration), 'steps.0.config.duration')!.reason).to.match(/at least 1 second|negative/);
    }
    expect(problemAt(waitFor('P1DT-1S'), 'steps.0.config.duration')!.reason).to.equal('must not have negative parts');
    expect(problemAt(waitFor('two days'), 'steps.0.config.duration')!.reason).to.match(/ISO 8601 duration/);
  });

  it('accepts the boundaries: exactly one second and exactly one year', () => {
    for (const duration of ['PT1S', 'P1Y', 'P365D', 'PT8760H', 'P12M', 'P52W']) expect(names(waitFor(duration)), duration).to.deep.equal([]);
  });

  it('wants a duration or a time of day (with days), not both, not neither', () => {
    const waitWith = (config: unknown) => ({ steps: [{ id: 'w', type: 'wait', config }] });
    expect(names(waitWith({ until: '09:30', days: ['mon', 'fri'] }))).to.deep.equal([]);
    expect(names(waitWith({}))).to.deep.equal(['steps.0.config']);
    expect(names(waitWith({ duration: 'P1D', until: '09:30' }))).to.deep.equal(['steps.0.config']);
    expect(names(waitWith({ duration: 'P1D', days: ['mon'] }))).to.deep.equal(['steps.0.config.days']);
    expect(names(waitWith({ until: '25:00' }))).to.deep.equal(['steps.0.config.until']);
  });

  it('refuses a template that does not compile, naming the step field and the error', () => {
    const unclosed = {
      steps: [
        { id: 'hi', type: 'send_email', config: { subject: 'Hi', body: 'Hello' }, next: 'again' },
        { id: 'again', type: 'send_email', config: { subject: 'Hi again', body: 'Dear {{#contact.firstName}} friend' }, next: 'hook' },
        { id: 'hook', type: 'http_request', config: { url: 'https://hooks.example.com/x', body: '{"name": "{{contact.firstName"}' } },
      ],
    };
    expect(problemsOf(unclosed)).to.deep.equal([
      { name: 'steps.1.config.body', reason: 'Unclosed section "contact.firstName" at 34' },
      { name: 'steps.2.config.body', reason: 'Unclosed tag at 31' },
    ]);
    expect(problemsOf({ steps: [{ id: 'a', type: 'send_email', config: { subject: '{{/contact.firstName}}', body: 'x' } }] })).to.deep.equal([
      { name: 'steps.0.config.subject', reason: 'Unopened section "contact.firstName" at 0' },
    ]);
  });

  it('refuses partials (none are given: they would render nothing), and accepts sections that close', () => {
    expect(
      problemsOf({ steps: [{ id: 'a', type: 'send_email', config: { subject: 'Hi', body: 'Hi\n{{#contact}}{{> signature}}{{/contact}}' } }] }),
    ).to.deep.equal([{ name: 'steps.0.config.body', reason: 'Partials are not supported ("signature" at 15)' }]);
    const fine = {
      subject: 'Hi{{#contact.firstName}} {{contact.firstName}}{{/contact.firstName}}',
      body: '{{^contact.company}}No company{{/contact.company}}{{#contact.tags}}- {{.}}\n{{/contact.tags}}',
    };
    expect(names({ steps: [{ id: 'a', type: 'send_email', config: fine }] })).to.deep.equal([]);
  });

  it('bounds retry settings: attempts, delays, and the longest delay no shorter than the first', () => {
    const withRetry = (retry: unknown) => ({ steps: [{ ...email('a'), retry }] });
    expect(names(withRetry({ maxAttempts: 21 }))).to.deep.equal(['steps.0.retry.maxAttempts']);
    expect(names(withRetry({ maxAttempts: 0 }))).to.deep.equal(['steps.0.retry.maxAttempts']);
    expect(names(withRetry({ initialDelayMs: 0 }))).to.deep.equal(['steps.0.retry.initialDelayMs']);
    expect(names(withRetry({ maxDelayMs: 8 * 86_400_000 }))).to.deep.equal(['steps.0.retry.maxDelayMs']);
    expect(names(withRetry({ initialDelayMs: 60_000, maxDelayMs: 1_000 }))).to.deep.equal(['steps.0.retry.maxDelayMs']);
    // The default longest delay is an hour: a first delay of two hours without a longest one is refused.
    expect(names(withRetry({ initialDelayMs: 2 * 3_600_000 }))).to.deep.equal(['steps.0.retry.initialDelayMs']);
    expect(names(withRetry({ maxAttempts: 20, initialDelayMs: 86_400_000, maxDelayMs: 7 * 86_400_000 }))).to.deep.equal([]);
    expect(names(withRetry({ maxAttempts: 1, initialDelayMs: 100, maxDelayMs: 100 }))).to.deep.equal([]);
  });

  it('bounds lists and maps in settings and step configurations', () => {
    const steps = [email('a')];
    expect(
      names({ settings: { sendWindow: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'mon'], start: '09:00', end: '17:00' } }, steps }),
    ).to.deep.equal(['settings.sendWindow.days']);
    expect(names({ settings: { exitOn: ['replied', 'bounced', 'unsubscribed', 'out_of_office', 'replied'] }, steps })).to.deep.equal([
      'settings.exitOn',
    ]);
    expect(
      names({ steps: [{ id: 'w', type: 'wait', config: { until: '09:00', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'mon'] } }] }),
    ).to.deep.equal(['steps.0.config.days']);
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`f${i}`, 'x']));
    expect(
      names({ steps: [{ id: 'c', type: 'crm_action', config: { provider: 'hubspot', action: 'upsert_contact', fields: many } }] }),
    ).to.deep.equal(['steps.0.config.fields']);
    expect(
      names({
        steps: [{ id: 'c', type: 'crm_action', config: { provider: 'hubspot', action: 'log_activity', fields: { note: 'x'.repeat(2_001) } } }],
      }),
    ).to.deep.equal(['steps.0.config.fields.note']);
    expect(names({ steps: [{ id: 'u', type: 'update_contact', config: { changes: { customFields: many } } }] })).to.deep.equal([
      'steps.0.config.changes.customFields',
    ]);
  });
});
