import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ChatMessage } from './ports.ts';

/** Where the prompts live: one file per prompt and version, `<name>.v<version>.md`. */
export const PROMPTS_DIR = fileURLToPath(new URL('./prompts/', import.meta.url));

const FILE_NAME = /^([a-z][a-z0-9-]*)\.v([1-9][0-9]*)\.md$/;
const PLACEHOLDER = /\{\{\s*([a-zA-Z][a-zA-Z0-9]*(?:\.[a-zA-Z][a-zA-Z0-9]*)?)\s*\}\}/g;

export type PromptValues = Record<string, string | number | null | undefined | Record<string, string | number | null | undefined>>;

/**
 * One version of a prompt: a system part and a user part with `{{placeholders}}` (`{{instructions}}`,
 * `{{contact.firstName}}`). A line whose placeholders are all empty is left out, so a prompt never says
 * "Company: " about a contact without one. The placeholders are also what is sent: a contact's fields other
 * than the ones its prompt names never leave (fieldsOf).
 */
export class Prompt {
  readonly id: string;
  /** The parts compiled once: a contact's embedding text is rendered for every contact event a projector reads. */
  private readonly compiled: { system: Template; user: Template };

  constructor(
    readonly name: string,
    readonly version: number,
    private readonly system: string,
    private readonly user: string,
  ) {
    this.id = `${name}@v${version}`;
    this.compiled = { system: compile(system), user: compile(user) };
  }

  /** The fields of `object` (e.g. `contact`) the prompt names: the only ones to read and send. */
  fieldsOf(object: string): string[] {
    const fields = new Set<string>();
    for (const text of [this.system, this.user]) {
      for (const match of text.matchAll(PLACEHOLDER)) {
        const [head, field] = match[1]!.split('.');
        if (head === object && field) fields.add(field);
      }
    }
    return [...fields];
  }

  messages(values: PromptValues): ChatMessage[] {
    const messages: ChatMessage[] = [];
    const system = render(this.compiled.system, values);
    if (system) messages.push({ role: 'system', content: system });
    const user = render(this.compiled.user, values);
    if (user) messages.push({ role: 'user', content: user });
    return messages;
  }

  /** The user part alone (for a prompt that is embedded rather than sent to a chat model). */
  text(values: PromptValues): string {
    return render(this.compiled.user, values);
  }
}

/** A placeholder's value: `{{name}}` or `{{object.field}}`. */
interface Placeholder {
  head: string;
  field: string | undefined;
}

/** A template line as literal text and placeholders, in order (no placeholder: the line as it is). */
type Line = string | (string | Placeholder)[];
type Template = Line[];

function compile(template: string): Template {
  return template.split('\n').map((line) => {
    const parts: (string | Placeholder)[] = [];
    let at = 0;
    for (const match of line.matchAll(PLACEHOLDER)) {
      parts.push(line.slice(at, match.index));
      const [head, field] = match[1]!.split('.');
      parts.push({ head: head!, field });
      at = match.index + match[0].length;
    }
    if (parts.length === 0) return line;
    parts.push(line.slice(at));
    return parts;
  });
}

function valueOf(values: PromptValues, { head, field }: Placeholder): string {
  const value = field === undefined ? values[head] : (values[head] as Record<string, unknown> | undefined)?.[field];
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return '';
  return String(value).trim();
}

function render(template: Template, values: PromptValues): string {
  const lines: string[] = [];
  for (const line of template) {
    if (typeof line === 'string') {
      lines.push(line);
      continue;
    }
    let placeholders = 0;
    let filled = 0;
    let rendered = '';
    for (const part of line) {
      if (typeof part === 'string') {
        rendered += part;
        continue;
      }
      placeholders++;
      const value = valueOf(values, part);
      if (value) filled++;
      rendered += value;
    }
    if (filled === 0) continue;
    // A value left empty leaves no stray space behind ("{{firstName}} {{lastName}}" without a last name).
    lines.push(filled < placeholders ? rendered.replace(/[ \t]{2,}/g, ' ').trim() : rendered);
  }
  return lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Splits a prompt file into its `# system` and `# user` parts (a file may have only the user part). */
function parse(name: string, version: number, source: string): Prompt {
  const parts: Record<string, string[]> = {};
  let current: string | null = null;
  for (const line of source.replace(/\r\n/g, '\n').split('\n')) {
    const heading = /^# (system|user)\s*$/.exec(line);
    if (heading) {
      current = heading[1]!;
      parts[current] = [];
    } else if (current) parts[current]!.push(line);
  }
  if (!parts.user) throw new Error(`prompt ${name}.v${version}.md has no "# user" part`);
  return new Prompt(name, version, (parts.system ?? []).join('\n').trim(), parts.user.join('\n').trim());
}

/**
 * The AI service's prompts, versioned in files (command-api/ai/prompts/): each answer names the version it
 * was made with (`prompt: "generate-email@v1"`), the cache keys on it, and a changed prompt is a new file,
 * so an answer can always be traced to the words that produced it. The newest version of each is used.
 */
export class PromptBook {
  private readonly latest = new Map<string, Prompt>();

  constructor(directory = PROMPTS_DIR) {
    for (const file of readdirSync(directory)) {
      const match = FILE_NAME.exec(file);
      if (!match) continue;
      const prompt = parse(match[1]!, Number(match[2]), readFileSync(path.join(directory, file), 'utf8'));
      const known = this.latest.get(prompt.name);
      if (!known || known.version < prompt.version) this.latest.set(prompt.name, prompt);
    }
  }

  get(name: string): Prompt {
    const prompt = this.latest.get(name);
    if (!prompt) throw new Error(`no prompt named ${name} in ${PROMPTS_DIR}`);
    return prompt;
  }

  names(): string[] {
    return [...this.latest.keys()].sort();
  }
}
