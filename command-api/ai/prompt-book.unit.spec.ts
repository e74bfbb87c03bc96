import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { normalize } from './answer-cache.ts';
import { PromptBook } from './prompt-book.ts';

describe('Versioned prompts', () => {
  it('uses the newest version of each prompt, named in its id', () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'prompts-'));
    writeFileSync(path.join(directory, 'greet.v1.md'), '# user\nHello {{name}}');
    writeFileSync(path.join(directory, 'greet.v2.md'), '# system\nBe brief.\n\n# user\nHi {{name}}');
    writeFileSync(path.join(directory, 'README.md'), 'not a prompt');
    const prompt = new PromptBook(directory).get('greet');
    expect(prompt.id).to.equal('greet@v2');
    expect(prompt.messages({ name: 'Ada' })).to.deep.equal([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi Ada' },
    ]);
  });

  it('leaves out a line whose values are all empty, and names the fields it reads', () => {
    const prompt = new PromptBook().get('generate-email');
    const [, user] = prompt.messages({ instructions: 'Say thanks', contact: { firstName: 'Ada', company: null } });
    expect(user!.content).to.contain('Recipient first name: Ada');
    expect(user!.content).not.to.contain('Recipient company');
    expect(user!.content).not.to.contain('Tone');
    expect(prompt.fieldsOf('contact').sort()).to.deep.equal(['company', 'firstName', 'lastName', 'title']);
  });

  it('renders placeholders in order, drops a line whose values are all empty, tidies a partly filled one', () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'prompts-'));
    writeFileSync(
      path.join(directory, 'card.v1.md'),
      [
        '# user',
        'Name: {{contact.firstName}}  {{contact.lastName}}!',
        'Title: {{contact.title}}',
        '',
        '',
        '',
        'Tags: {{tags}} ({{count}})',
        'Plain line $1 {{}}',
        'Note: {{note}}',
      ].join('\n'),
    );
    const prompt = new PromptBook(directory).get('card');
    expect(
      prompt.text({ contact: { firstName: ' Ada ', lastName: 'Lovelace', title: null }, tags: 'vip, lead', count: 2, note: { nested: 'no' } }),
    ).to.equal(['Name: Ada  Lovelace!', '', 'Tags: vip, lead (2)', 'Plain line $1 {{}}'].join('\n'));
    expect(prompt.text({ contact: { firstName: 'Ada' }, tags: '' })).to.equal(['Name: Ada !', '', 'Plain line $1 {{}}'].join('\n'));
  });

  it('ships every prompt the service uses', () => {
    const book = new PromptBook();
    for (const name of ['complete', 'generate-email', 'analyze-sentiment', 'suggest-workflow-steps', 'generate-workflow', 'contact-embedding'])
      expect(book.get(name).id).to.match(new RegExp(`^${name}@v\\d+$`));
  });

  it('normalizes a request for the cache: key order and runs of white space do not matter', () => {
    expect(JSON.stringify(normalize({ b: ' x  y ', a: [1, { d: 2, c: 'z' }] }))).to.equal(JSON.stringify({ a: [1, { c: 'z', d: 2 }], b: 'x y' }));
  });
});
