import { expect } from 'chai';
import { StepError, type ContactSnapshot } from './step-type.ts';
import { maxTemplateRenders, render, templateProblem } from './templates.ts';

const contact: ContactSnapshot = {
  id: 'c-1',
  email: 'ada@example.com',
  firstName: 'Ada',
  lastName: null,
  phone: null,
  company: 'Analytical Engines',
  title: null,
  timezone: null,
  customFields: { score: 87, source: 'webinar' },
  tags: ['vip', 'q4'],
  engagement: { repliedAt: null, bouncedAt: null, unsubscribedAt: null, outOfOfficeUntil: null },
};

const failure = (template: string, of: ContactSnapshot = contact): StepError => {
  try {
    render(template, of);
  } catch (err) {
    if (err instanceof StepError) return err;
    throw err;
  }
  throw new Error(`rendered ${JSON.stringify(template)}`);
};

describe('Workflow templates', () => {
  it('fill in the contact: fields, custom fields, tags, sections and inverted sections, without HTML escaping', () => {
    expect(render('Hi {{contact.firstName}} <{{contact.email}}> at {{contact.company}}', contact)).to.equal(
      'Hi Ada <ada@example.com> at Analytical Engines',
    );
    expect(render('{{contact.customFields.score}} from {{contact.customFields.source}}; {{contact.tags}}', contact)).to.equal(
      '87 from webinar; vip,q4',
    );
    expect(render('{{#contact.tags}}[{{.}}]{{/contact.tags}}{{^contact.lastName}} (no last name){{/contact.lastName}}', contact)).to.equal(
      '[vip][q4] (no last name)',
    );
    expect(render('{{#contact}}{{firstName}} {{tags.length}}{{/contact}} {{contact.customFields}}', contact)).to.equal('Ada 2 [object Object]');
  });

  it('see the contact data and nothing else: no prototype members, no partials, no lambdas', () => {
    const reach =
      '{{contact.constructor}}|{{contact.__proto__}}|{{contact.tags.constructor}}|{{contact.customFields.constructor.name}}|{{#contact.constructor.constructor}}x{{/contact.constructor.constructor}}';
    expect(render(reach, contact)).to.equal('||||');
    expect(
      render('{{#contact.constructor.prototype}}{{#__defineGetter__}}x{{/__defineGetter__}}{{/contact.constructor.prototype}}', contact),
    ).to.equal('');
    expect(render('a{{> toString}}{{> constructor}}b', contact)).to.equal('ab');
    expect(Object.prototype).not.to.have.property('x');
  });

  it('stop a render that does too much (a tag list nested in itself), failing the step without retries', () => {
    const many = { ...contact, tags: Array.from({ length: 30 }, (_, i) => `t${i}`) };
    const error = failure('{{#contact.tags}}{{#contact.tags}}{{#contact.tags}}x{{/contact.tags}}{{/contact.tags}}{{/contact.tags}}', many);
    expect(error).to.include({ code: 'template_too_large', retryable: false });
    expect(error.message).to.contain(String(maxTemplateRenders));
  });

  it('fail the step without retries on a template that does not compile (one saved before templates were checked)', () => {
    expect(failure('Hi {{#contact.firstName}}')).to.include({ code: 'template_invalid', retryable: false });
  });

  it('say on save why a template cannot be used', () => {
    expect(templateProblem('Hi {{contact.firstName}}')).to.equal(null);
    expect(templateProblem('Hi {{#contact.firstName}} there')).to.equal('Unclosed section "contact.firstName" at 31');
    expect(templateProblem('{{=<% %>=}}Hi <% contact.firstName %>')).to.equal(null);
    expect(templateProblem('{{> footer}}')).to.equal('Partials are not supported ("footer" at 0)');
  });
});
