import { expect } from 'chai';
import { FreeTextFields, MAX_INVALID_PARAMS, MAX_NESTING, textProblemsIn } from './text-rule.ts';

describe('The text rule at the HTTP edge', () => {
  it('names each offending field by its path, keys included, in document order', () => {
    const problems = textProblemsIn({ title: 'x\u0000', tags: ['ok', 'a\r\nb'], customFields: { ['k\u0000']: 1 } });
    expect(problems.map((p) => p.name)).to.deep.equal(['title', 'tags.1', 'customFields.k\u0000']);
    expect(problems[2]!.reason).to.match(/^key must not contain control characters/);
  });

  it('lets line breaks through only where the route lists the field as free text', () => {
    const freeText = new FreeTextFields(['description', 'steps.*.config.body']);
    const body = { description: 'two\nlines', name: 'one\nline', steps: [{ config: { body: 'Hi\r\n', subject: 'S\r\nBcc: x' } }] };
    expect(textProblemsIn(body, freeText).map((p) => p.name)).to.deep.equal(['name', 'steps.0.config.subject']);
    // NUL is refused in free text too.
    expect(textProblemsIn({ description: 'a\u0000' }, freeText).map((p) => p.name)).to.deep.equal(['description']);
  });

  it('refuses nesting deeper than the bound without walking it', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    const problems = textProblemsIn(deep);
    expect(problems).to.have.length(1);
    expect(problems[0]!.name.split('.')).to.have.length(MAX_NESTING);
    expect(problems[0]!.reason).to.match(/nested too deeply/);
  });

  it('stops after the most problems an answer lists', () => {
    const problems = textProblemsIn(Array.from({ length: 100_000 }, () => 'x\u0000'));
    expect(problems).to.have.length(MAX_INVALID_PARAMS);
    expect(problems[0]!.name).to.equal('0');
  });
});
