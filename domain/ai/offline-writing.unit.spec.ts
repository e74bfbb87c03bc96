import { expect } from 'chai';
import { validateDefinition } from '../workflows/validation.ts';
import { stepTypes } from '../workflows/steps/index.ts';
import { composeEmailOffline, suggestStepsOffline, workflowFromSentenceOffline } from './offline-writing.ts';
import { costMicros } from './prices.ts';
import { mayUseAi, tokensUsed } from './usage.ts';

describe('AI without a model (offline writing)', () => {
  it('writes an email greeting the recipient by first name, the instructions as its body', () => {
    const email = composeEmailOffline('Thanks for the demo.', { firstName: 'Ada', company: 'Engines' });
    expect(email.subject).to.equal('A note for Ada at Engines');
    expect(email.body).to.equal('Hi Ada,\n\nThanks for the demo.\n\nBest regards');
    expect(composeEmailOffline('Checking in on the proposal').subject).to.equal('Checking in on the proposal');
  });

  it('reads a sentence clause by clause into a workflow the engine accepts', () => {
    const workflow = workflowFromSentenceOffline('Send a welcome email, wait 2 weeks, then draft a personal follow-up and tag them as "hot lead"', {
      timezone: 'Europe/Paris',
      mailbox: 'sales@acme.test',
    });
    expect(workflow.steps.map((step) => step.type)).to.deep.equal(['send_email', 'wait', 'ai_compose_email', 'add_tag']);
    expect(workflow.steps[1]!.config).to.deep.equal({ duration: 'P14D' });
    expect(workflow.steps[3]!.config).to.deep.equal({ tag: 'hot-lead' });
    expect(workflow.steps.at(-1)!.next).to.equal(null);
    const { name: _n, description: _d, ...definition } = workflow;
    expect(validateDefinition(definition)).to.have.property('definition');
  });

  it('makes one email of a sentence it cannot read', () => {
    const workflow = workflowFromSentenceOffline('Something vague', { timezone: 'UTC', mailbox: 'a@b.test' });
    expect(workflow.steps).to.have.length(1);
    expect(workflow.steps[0]!.type).to.equal('send_email');
  });

  it("keeps the asker's placeholders, and makes words that would break a template plain text (the answer is always a valid definition)", () => {
    const kept = workflowFromSentenceOffline('Greet {{contact.firstName}} warmly', { timezone: 'UTC', mailbox: 'a@b.test' });
    expect(kept.steps[0]!.config).to.deep.equal({
      subject: 'Greet {{contact.firstName}} warmly',
      body: 'Hi {{contact.firstName}},\n\nGreet {{contact.firstName}} warmly\n\nBest regards',
    });
    for (const sentence of [
      '{{{contact}}}{{/x}}',
      '{{#a}} one two three four five six seven {{/a}}',
      '{{> partial}} hello',
      'Send {{{{{ weird }}',
      'email {{#open}} and wait 2 days',
      '{{=<% %>=}} <%#x%>',
    ]) {
      const workflow = workflowFromSentenceOffline(sentence, { timezone: 'UTC', mailbox: 'a@b.test' });
      const { name: _n, description: _d, ...definition } = workflow;
      expect(validateDefinition(definition), sentence).to.have.property('definition');
      const [suggested] = suggestStepsOffline(sentence, [], 1);
      expect(
        validateDefinition({ ...definition, steps: [{ id: 's', type: suggested!.type, config: suggested!.config, next: null }] }),
        sentence,
      ).to.have.property('definition');
    }
    const plain = workflowFromSentenceOffline('{{{contact}}}{{/x}}', { timezone: 'UTC', mailbox: 'a@b.test' });
    expect(plain.steps[0]!.config).to.deep.include({ subject: '{ { {contact}}}{ {/x}}' });
  });

  it('suggests steps valid for their type: a wait after an email, the CRM when the goal names it', () => {
    const steps = suggestStepsOffline('Log every touch in Salesforce', ['send_email'], 5);
    expect(steps.map((step) => step.type)).to.include.members(['wait', 'crm_action']);
    for (const step of steps) expect(stepTypes.get(step.type)!.config.safeParse(step.config).success, step.type).to.equal(true);
    expect(suggestStepsOffline('x', [], 1)).to.have.length(1);
  });
});

describe('AI usage and prices', () => {
  it('refuses at the allowance, not only above it', () => {
    expect(mayUseAi(199, 200)).to.equal(true);
    expect(mayUseAi(200, 200)).to.equal(false);
    expect(mayUseAi(10_000, null)).to.equal(true);
  });

  it('sums the tokens of a period', () => {
    const used = tokensUsed([
      { type: 'AiTokensUsed', data: { organizationId: 'o', tokens: 30 } },
      { type: 'Other', data: {} },
      { type: 'AiTokensUsed', data: { organizationId: 'o', tokens: 12 } },
    ]);
    expect(used).to.equal(42);
  });

  it('prices a dated model by its listed name, and leaves an unknown one unpriced', () => {
    expect(costMicros('gpt-4o-mini-2024-07-18', 1_000, 500)).to.equal(450);
    expect(costMicros('gpt-4o', 1_000, 0)).to.equal(2_500);
    expect(costMicros('llama-3-70b', 1_000, 1_000)).to.equal(null);
  });
});
