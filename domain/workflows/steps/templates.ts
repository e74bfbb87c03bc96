import Mustache, { type PartialsOrLookupFn, type RenderOptions, type TemplateCache } from 'mustache';
import { StepError, type ContactSnapshot } from './step-type.ts';

/**
 * {{contact.field}}-style placeholders (mustache), without HTML escaping (emails here are plain text).
 *
 * A template is checked when its workflow is saved (`templateProblem`): it must parse, and may not name a
 * partial (`{{> name}}`): none are given, so it would only ever render nothing. Rendering sees the contact's
 * data and nothing else: the view is copied into objects whose only inherited member is toString, so a name
 * such as `contact.constructor` or `contact.__proto__` finds nothing (with plain objects it walked up to
 * Object and Function, and `{{> toString}}` threw on every run); no lambdas and no partials are given. Work is
 * bounded: at most `maxTemplateRenders` section renders (a tag list nested in itself grows as tags^depth) and
 * `maxTemplateOutput` characters, else the step fails (not retried: the same contact renders the same).
 */
export const maxTemplateRenders = 10_000;
export const maxTemplateOutput = 5_000_000;

/** Parsed templates, the most recently used few hundred (mustache's own cache keeps every template forever). */
class BoundedCache implements TemplateCache {
  private readonly entries = new Map<string, string>();
  constructor(private readonly max: number) {}
  get(key: string): string | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }
  set(key: string, value: string): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }
  clear(): void {
    this.entries.clear();
  }
}
const cache = new BoundedCache(500);

function writerWith<W extends Mustache.Writer>(writer: W): W {
  (writer as unknown as { templateCache: TemplateCache }).templateCache = cache;
  return writer;
}
const parser = writerWith(new Mustache.Writer());
type Context = InstanceType<typeof Mustache.Context>;

/** A writer for one render, that stops when the render does too much work. */
class BoundedWriter extends Mustache.Writer {
  private renders = 0;
  private output = 0;
  override renderTokens(
    tokens: string[][],
    context: Context,
    partials?: PartialsOrLookupFn,
    originalTemplate?: string,
    config?: RenderOptions,
  ): string {
    if (++this.renders > maxTemplateRenders)
      throw new StepError(`the template renders more than ${maxTemplateRenders} sections`, false, 'template_too_large');
    const text = super.renderTokens(tokens, context, partials, originalTemplate, config);
    this.output += text.length;
    if (this.output > maxTemplateOutput)
      throw new StepError(`the template renders more than ${maxTemplateOutput} characters`, false, 'template_too_large');
    return text;
  }
}

/** Objects of the view inherit toString only (what "{{contact.customFields}}" prints), nothing else. */
const recordPrototype: object = Object.freeze(Object.create(null, { toString: { value: () => '[object Object]' } }));
const listPrototype: object = Object.freeze(
  Object.create(null, {
    toString: {
      value(this: unknown) {
        return Array.isArray(this) ? Array.prototype.join.call(this, ',') : '';
      },
    },
  }),
);

function contained(value: unknown): unknown {
  if (Array.isArray(value)) return Object.setPrototypeOf(value.map(contained), listPrototype);
  if (value === null || typeof value !== 'object') return value;
  const copy = Object.create(recordPrototype) as Record<string, unknown>;
  for (const [key, item] of Object.entries(value)) Object.defineProperty(copy, key, { value: contained(item), enumerable: true });
  return copy;
}

const noPartials = Object.freeze(Object.create(null)) as Record<string, string>;
const options: RenderOptions = { escape: (value: string) => value };

export function render(template: string, contact: ContactSnapshot): string {
  const writer = writerWith(new BoundedWriter());
  let tokens: string[][];
  try {
    tokens = writer.parse(template);
  } catch (err) {
    // Only a template saved before templates were checked on save gets here.
    throw new StepError(`the template does not compile: ${(err as Error).message}`, false, 'template_invalid');
  }
  const view = new Mustache.Context(contained({ contact }));
  return writer.renderTokens(tokens, view, noPartials, template, options);
}

type Token = [string, string, number, number, Token[]?, number?];

/** Why a template cannot be used, or null: it must parse, and use no partial. */
export function templateProblem(template: string): string | null {
  let tokens: Token[];
  try {
    tokens = parser.parse(template) as Token[];
  } catch (err) {
    return (err as Error).message;
  }
  const partial = (list: Token[]): Token | undefined => {
    for (const token of list) {
      if (token[0] === '>') return token;
      const inner = token[4] ? partial(token[4]) : undefined;
      if (inner) return inner;
    }
    return undefined;
  };
  const found = partial(tokens);
  return found ? `Partials are not supported ("${found[1]}" at ${found[2]})` : null;
}
