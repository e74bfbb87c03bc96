import { textProblem } from '../../domain/text.ts';
import type { InvalidParam } from './problem.ts';

/** JSON nested deeper than this is refused before any schema sees it (no route needs more than a few levels). */
export const MAX_NESTING = 32;
/** An answer lists at most this many invalid params (the problem handler enforces it for every 4xx). */
export const MAX_INVALID_PARAMS = 50;

/**
 * Which fields of a route's input may hold line breaks: dotted paths where `*` stands for any one key or
 * array index (e.g. `steps.*.config.body`). Every other string is single-line.
 */
export class FreeTextFields {
  private readonly patterns: string[][];

  constructor(patterns: readonly string[] = []) {
    this.patterns = patterns.map((pattern) => pattern.split('.'));
  }

  includes(path: readonly string[]): boolean {
    return this.patterns.some((pattern) => pattern.length === path.length && pattern.every((part, i) => part === '*' || part === path[i]));
  }
}

const NONE = new FreeTextFields();

/**
 * The text rule of domain/text.ts applied to one part of a request (the JSON body, the query, the path
 * parameters), keys included, plus a bound on nesting. Every route gets it from mountRoutes before its
 * schema runs, so a new route cannot forget it. Iterative: a body nested 10,000 deep costs a loop, not a
 * stack overflow. Stops after MAX_INVALID_PARAMS problems.
 */
export function textProblemsIn(value: unknown, freeText: FreeTextFields = NONE): InvalidParam[] {
  return singleLineThroughout(value) ? [] : problemsIn(value, freeText);
}

/**
 * Whether every string and key is acceptable single-line text and nothing is nested too deeply: then no field
 * has a problem whatever is free text (single-line is the stricter kind). The usual answer, found without
 * building a path per field.
 */
function singleLineThroughout(value: unknown): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const current = values.pop();
    const depth = depths.pop()!;
    if (typeof current === 'string') {
      if (textProblem(current, 'single-line')) return false;
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_NESTING) return false;
    if (Array.isArray(current)) {
      for (const item of current) {
        values.push(item);
        depths.push(depth + 1);
      }
      continue;
    }
    for (const key of Object.keys(current)) {
      if (textProblem(key, 'single-line')) return false;
      values.push((current as Record<string, unknown>)[key]);
      depths.push(depth + 1);
    }
  }
  return true;
}

function problemsIn(value: unknown, freeText: FreeTextFields): InvalidParam[] {
  const problems: InvalidParam[] = [];
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  while (stack.length > 0 && problems.length < MAX_INVALID_PARAMS) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      const reason = textProblem(current, freeText.includes(path) ? 'free-text' : 'single-line');
      if (reason) problems.push({ name: nameOf(path), reason });
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (path.length >= MAX_NESTING) {
      problems.push({ name: nameOf(path), reason: `is nested too deeply (at most ${MAX_NESTING} levels)` });
      continue;
    }
    const entries = Array.isArray(current) ? current.map((item, index) => [String(index), item] as const) : Object.entries(current);
    // Pushed in reverse so that problems come out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      const keyProblem = Array.isArray(current) ? null : textProblem(key, 'single-line');
      if (keyProblem) {
        problems.push({ name: nameOf([...path, key.toWellFormed()]), reason: `key ${keyProblem}` });
        continue;
      }
      stack.push({ value: item, path: [...path, key] });
    }
  }
  return problems;
}

function nameOf(path: readonly string[]): string {
  return path.length > 0 ? path.join('.') : 'body';
}
