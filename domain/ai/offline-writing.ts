import { templateProblem } from '../workflows/steps/templates.ts';
import { wordsOf } from './feature-hashing.ts';

/**
 * What the AI service answers without a language model (no provider key: the embedded default, tests):
 * deterministic templates and rules, honest about being so (the API labels each answer `offline`). Pure.
 */

export interface EmailRecipient {
  firstName?: string | null;
  lastName?: string | null;
  company?: string | null;
  title?: string | null;
}

/** An email from a template: a greeting by first name, the instructions as the body, a sign-off. */
export function composeEmailOffline(instructions: string, recipient: EmailRecipient = {}): { subject: string; body: string } {
  const name = recipient.firstName?.trim() || null;
  const company = recipient.company?.trim() || null;
  const subject = name ? `A note for ${name}${company ? ` at ${company}` : ''}` : firstWords(instructions, 8);
  const body = `${name ? `Hi ${name}` : 'Hello'},\n\n${instructions.trim()}\n\nBest regards`;
  return { subject, body };
}

/**
 * A template around the asker's words: kept as written when the whole is a template the engine accepts (so
 * "say hi {{contact.firstName}}" keeps its placeholder), else the words are made plain text — no brace
 * followed by a brace is left in them, so nothing in them opens a tag ("{{/x}}", a section cut in half by
 * firstWords, a partial).
 */
function templateAround(words: string, make: (words: string) => string): string {
  const written = make(words);
  return templateProblem(written) === null ? written : make(words.replace(/\{(?=\{)/g, '{ '));
}

function firstWords(text: string, count: number): string {
  const words = text.trim().split(/\s+/).slice(0, count).join(' ');
  const line = words.replace(/[\r\n]+/g, ' ');
  return line.charAt(0).toUpperCase() + line.slice(1);
}

export interface SuggestedStep {
  type: string;
  name: string;
  config: Record<string, unknown>;
  reason: string;
}

/**
 * Next steps by rule: after an email, a wait; after a wait, a check for engagement then a follow-up; a goal
 * that speaks of a CRM, a tag or a webhook gets that step.
 */
export function suggestStepsOffline(goal: string, existingTypes: readonly string[], count: number): SuggestedStep[] {
  const words = new Set(wordsOf(goal));
  const last = existingTypes[existingTypes.length - 1];
  const suggestions: SuggestedStep[] = [];
  if (last === 'send_email' || last === 'ai_compose_email') {
    suggestions.push({
      type: 'wait',
      name: 'Wait three days',
      config: { duration: 'P3D' },
      reason: 'Give the contact time to reply before the next touch.',
    });
  }
  if (last === 'wait' || existingTypes.length === 0 || !existingTypes.includes('send_email')) {
    suggestions.push({
      type: 'send_email',
      name: existingTypes.includes('send_email') ? 'Follow-up email' : 'First email',
      config: {
        subject: existingTypes.includes('send_email') ? 'Following up, {{contact.firstName}}' : 'Hello {{contact.firstName}}',
        body: templateAround(goal.trim(), (words) => `Hi {{contact.firstName}},\n\n${words}\n\nBest regards`),
      },
      reason: 'A sequence moves forward by email.',
    });
  }
  if (words.has('crm') || words.has('salesforce') || words.has('hubspot') || words.has('deal')) {
    suggestions.push({
      type: 'crm_action',
      name: 'Log in the CRM',
      config: { provider: words.has('salesforce') ? 'salesforce' : 'hubspot', action: 'log_activity', fields: { subject: 'Workflow touch' } },
      reason: 'The goal mentions the CRM: record the touch there.',
    });
  }
  if (words.has('tag') || words.has('segment') || words.has('qualify') || words.has('qualified')) {
    suggestions.push({
      type: 'add_tag',
      name: 'Tag as engaged',
      config: { tag: 'engaged' },
      reason: 'Tags let later workflows pick the contact up.',
    });
  }
  suggestions.push({
    type: 'condition',
    name: 'Has the contact replied?',
    config: { match: 'all', rules: [{ field: 'tags', operator: 'contains', value: 'replied' }] },
    reason: 'Branch so that contacts who engaged are not chased.',
  });
  return suggestions.slice(0, count);
}

const NUMBERS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, ten: 10, fourteen: 14 };
const UNITS: Record<string, (n: number) => string> = {
  minute: (n) => `PT${n}M`,
  hour: (n) => `PT${n}H`,
  day: (n) => `P${n}D`,
  week: (n) => `P${n * 7}D`,
};

export interface OfflineWorkflow {
  name: string;
  description: string;
  trigger: { type: 'manual' };
  settings: { timezone: string; exitOn: string[]; exitAction: 'stop'; mailbox: string };
  steps: { id: string; type: string; config: Record<string, unknown>; next: string | null }[];
}

/**
 * A sentence read clause by clause ("send a welcome email, wait 3 days, then follow up and tag them as
 * nurtured"): waits, tags, emails (written by the AI step when the sentence asks for writing or
 * personalising). A sentence with none of these becomes one email of its words.
 */
export function workflowFromSentenceOffline(sentence: string, settings: { timezone: string; mailbox: string }): OfflineWorkflow {
  const clauses = sentence
    .split(/[,;.]|\bthen\b|\band\b|\bafter that\b|\bfinally\b/i)
    .map((clause) => clause.trim())
    .filter(Boolean);
  const steps: { type: string; config: Record<string, unknown> }[] = [];
  for (const clause of clauses) {
    const lower = clause.toLowerCase();
    const wait = /\bwait(?:s|ing)?\s+(?:for\s+)?(\d+|a|an|one|two|three|four|five|six|seven|ten|fourteen)\s+(minute|hour|day|week)s?\b/.exec(lower);
    if (wait) {
      const n = /^\d+$/.test(wait[1]!) ? Math.min(365, Math.max(1, Number(wait[1]))) : NUMBERS[wait[1]!]!;
      steps.push({ type: 'wait', config: { duration: UNITS[wait[2]!]!(n) } });
      continue;
    }
    const untag = /\bremove\s+(?:the\s+)?tag\s+["']?([a-z0-9][\w -]{0,40})/.exec(lower);
    if (untag) {
      steps.push({ type: 'remove_tag', config: { tag: slug(untag[1]!) } });
      continue;
    }
    const tag = /\btag(?:s|ged)?\b(?:\s+(?:them|it|the contact|contacts))?(?:\s+(?:as|with))?\s+["']?([a-z0-9][\w -]{0,40})/.exec(lower);
    if (tag) {
      steps.push({ type: 'add_tag', config: { tag: slug(tag[1]!) } });
      continue;
    }
    if (/\b(e-?mails?|send|follow[- ]?up|reach out|message|write|intro(?:duce|duction)?)\b/.test(lower)) {
      if (/\b(write|personali[sz]e|ai|compose|draft)\b/.test(lower)) {
        steps.push({ type: 'ai_compose_email', config: { instructions: clause } });
      } else {
        const follow = /follow[- ]?up/.test(lower);
        steps.push({
          type: 'send_email',
          config: {
            subject: follow
              ? 'Following up, {{contact.firstName}}'
              : templateAround(firstWords(clause.replace(/^(send|email)\s+(a|an|the)?\s*/i, ''), 6), (words) => words.slice(0, 200)) || 'Hello',
            body: `Hi {{contact.firstName}},\n\n${follow ? 'I wanted to follow up on my last note.' : 'I wanted to reach out.'}\n\nBest regards`,
          },
        });
      }
    }
  }
  if (steps.length === 0) {
    steps.push({
      type: 'send_email',
      config: {
        subject: templateAround(firstWords(sentence, 6), (words) => words.slice(0, 200)) || 'Hello',
        body: templateAround(sentence.trim(), (words) => `Hi {{contact.firstName}},\n\n${words}\n\nBest regards`),
      },
    });
  }
  const ids = steps.map((step, index) => `${step.type.replace(/_/g, '-')}-${index + 1}`);
  return {
    name: firstWords(sentence, 8).slice(0, 200) || 'Generated workflow',
    description: sentence.trim().slice(0, 2_000),
    trigger: { type: 'manual' },
    settings: { timezone: settings.timezone, exitOn: ['replied', 'bounced', 'unsubscribed'], exitAction: 'stop', mailbox: settings.mailbox },
    steps: steps.map((step, index) => ({ id: ids[index]!, ...step, next: ids[index + 1] ?? null })),
  };
}

function slug(text: string): string {
  return (
    text
      .trim()
      .toLowerCase()
      .replace(/\b(and|then|after|before)\b.*$/, '')
      .trim()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 64) || 'tagged'
  );
}
