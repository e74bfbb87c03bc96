import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { conditionSet } from './steps/condition.ts';
import { stepTypes } from './steps/index.ts';
import { templateProblem } from './steps/templates.ts';
import { contactEventTriggers, defaultRetry, exitReasons, weekdays, type WorkflowDefinition } from './definition.ts';
import { isTimeZone, minutesOfDay } from './time.ts';

/** A problem with a definition, named by the path of the field the author wrote. */
export interface DefinitionProblem {
  name: string;
  reason: string;
}

const timeZone = z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Paris');
const hhmm = z.string().refine((v) => minutesOfDay(v) !== null, 'must be a time of day HH:MM');
const stepId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, - or _');
const target = stepId.nullable();

const cron = z.string().refine((value) => {
  if (value.trim().split(/\s+/).length !== 5) return false;
  try {
    CronExpressionParser.parse(value);
    return true;
  } catch {
    return false;
  }
}, 'must be a five-field cron expression (minute hour day-of-month month day-of-week)');

const trigger = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('manual') }),
    z.strictObject({
      type: z.literal('event'),
      event: z.enum(contactEventTriggers),
      tag: z.string().min(1).max(64).optional(),
      field: z.string().min(1).max(80).optional(),
      filter: conditionSet.optional(),
    }),
    z.strictObject({
      type: z.literal('schedule'),
      cron,
      timezone: timeZone,
      audienceTag: z.string().min(1).max(64),
      overlap: z.enum(['skip', 'queue', 'allow']).default('skip'),
      catchUpWindowMinutes: z
        .number()
        .int()
        .min(0)
        .max(7 * 24 * 60)
        .default(60),
    }),
  ],
  { error: 'must be {type: manual}, {type: event, event, ...} or {type: schedule, cron, timezone, audienceTag, ...}' },
);

const settings = z.strictObject({
  timezone: timeZone.default('UTC'),
  sendWindow: z
    .strictObject({ days: z.array(z.enum(weekdays)).min(1).max(weekdays.length), start: hhmm, end: hhmm })
    .refine((w) => minutesOfDay(w.start)! < minutesOfDay(w.end)!, { message: 'start must be before end', path: ['end'] })
    .optional(),
  exitOn: z.array(z.enum(exitReasons)).max(exitReasons.length).default(['replied', 'bounced', 'unsubscribed']),
  exitAction: z.enum(['stop', 'pause']).default('stop'),
  mailbox: z.email({ error: 'must be an email address' }).max(254).default('outreach@nexusflow.local'),
});

const step = z.strictObject({
  id: stepId,
  type: z.string().min(1).max(64),
  name: z.string().max(200).optional(),
  config: z.record(z.string(), z.unknown()).default({}),
  next: target.optional(),
  branches: z.record(z.string(), target).optional(),
  // Attempts 1 to 20; delays from 100 ms (an immediate retry only hammers what just failed) to a day for the
  // first and a week for the longest, the longest no shorter than the first (defaults fill what is absent).
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(20).optional(),
      initialDelayMs: z.number().int().min(100).max(86_400_000).optional(),
      maxDelayMs: z
        .number()
        .int()
        .min(100)
        .max(7 * 86_400_000)
        .optional(),
    })
    .superRefine((retry, ctx) => {
      const initial = retry.initialDelayMs ?? defaultRetry.initialDelayMs;
      const max = retry.maxDelayMs ?? defaultRetry.maxDelayMs;
      if (initial <= max) return;
      if (retry.maxDelayMs !== undefined)
        ctx.addIssue({ code: 'custom', path: ['maxDelayMs'], message: `must be at least initialDelayMs (${initial})` });
      else ctx.addIssue({ code: 'custom', path: ['initialDelayMs'], message: `must be at most maxDelayMs (${max} unless set)` });
    })
    .optional(),
});

export const definitionSchema = z.strictObject({
  trigger: trigger.default({ type: 'manual' }),
  settings: settings.default(() => settings.parse({})),
  steps: z.array(step).min(1, 'needs at least one step').max(100, 'at most 100 steps'),
});

/**
 * Parses and checks a definition as a graph: known step types with valid configuration (bounded numbers,
 * durations, lists and texts; templates that compile), every `next` and branch pointing at a step that
 * exists, every step reachable from the first, and no cycle that does not pass through a wait (it would spin
 * forever). Problems are named by path, e.g. `steps.2.next`.
 */
export function validateDefinition(
  input: unknown,
  path: (string | number)[] = [],
): { definition: WorkflowDefinition } | { problems: DefinitionProblem[] } {
  const name = (...parts: (string | number)[]) => [...path, ...parts].join('.');
  const parsed = definitionSchema.safeParse(input);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ name: name(...(issue.path as (string | number)[]), key), reason: 'is not a known field' }))
          : [{ name: name(...(issue.path as (string | number)[])), reason: issue.message }],
      ),
    };
  }
  const definition = parsed.data as WorkflowDefinition;
  const problems: DefinitionProblem[] = [];
  const index = new Map<string, number>();
  definition.steps.forEach((s, i) => {
    if (index.has(s.id)) problems.push({ name: name('steps', i, 'id'), reason: `"${s.id}" is used by another step` });
    else index.set(s.id, i);
  });

  const edges = new Map<string, string[]>();
  definition.steps.forEach((s, i) => {
    const type = stepTypes.get(s.type);
    if (!type) {
      problems.push({ name: name('steps', i, 'type'), reason: `is not a known step type (known: ${[...stepTypes.keys()].join(', ')})` });
      return;
    }
    const config = type.config.safeParse(s.config);
    if (config.success) {
      s.config = config.data as Record<string, unknown>;
      // A template that does not compile would fail every run: refuse it now, named by its field.
      for (const field of type.templates ?? []) {
        const template = s.config[field];
        const problem = typeof template === 'string' ? templateProblem(template) : null;
        if (problem) problems.push({ name: name('steps', i, 'config', field), reason: problem });
      }
    } else {
      for (const issue of config.error.issues) {
        problems.push({ name: name('steps', i, 'config', ...(issue.path as (string | number)[])), reason: issue.message });
      }
    }
    const targets: (string | null)[] = [];
    if (type.branches) {
      if (s.next !== undefined) problems.push({ name: name('steps', i, 'next'), reason: `a ${s.type} step continues through branches, not next` });
      for (const branch of type.branches) {
        if (!s.branches || !(branch in s.branches))
          problems.push({ name: name('steps', i, 'branches', branch), reason: 'is required (a step id, or null to end)' });
        else targets.push(s.branches[branch]!);
      }
      for (const branch of Object.keys(s.branches ?? {})) {
        if (!type.branches.includes(branch))
          problems.push({ name: name('steps', i, 'branches', branch), reason: `is not a branch of ${s.type} (${type.branches.join(', ')})` });
      }
    } else {
      if (s.branches !== undefined) problems.push({ name: name('steps', i, 'branches'), reason: `a ${s.type} step does not branch; use next` });
      targets.push(s.next ?? null);
    }
    const field = type.branches ? 'branches' : 'next';
    for (const to of targets) {
      if (to !== null && !index.has(to)) problems.push({ name: name('steps', i, field), reason: `refers to unknown step "${to}"` });
    }
    edges.set(
      s.id,
      targets.filter((to): to is string => to !== null && index.has(to)),
    );
  });
  if (problems.length > 0) return { problems };

  // Reachability from the first step.
  const reached = new Set<string>();
  const queue = [definition.steps[0]!.id];
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    queue.push(...(edges.get(id) ?? []));
  }
  definition.steps.forEach((s, i) => {
    if (!reached.has(s.id)) problems.push({ name: name('steps', i), reason: `step "${s.id}" cannot be reached from the first step` });
  });

  // A cycle among steps that do not wait never yields: look for one in the graph without the waits.
  const waits = new Set(definition.steps.filter((s) => stepTypes.get(s.type)?.waits).map((s) => s.id));
  const state = new Map<string, 'visiting' | 'done'>();
  const cycleThrough = (id: string): string | null => {
    if (waits.has(id)) return null;
    if (state.get(id) === 'visiting') return id;
    if (state.get(id) === 'done') return null;
    state.set(id, 'visiting');
    for (const to of edges.get(id) ?? []) {
      const found = cycleThrough(to);
      if (found) return found;
    }
    state.set(id, 'done');
    return null;
  };
  for (const s of definition.steps) {
    const found = cycleThrough(s.id);
    if (found) {
      problems.push({ name: name('steps', index.get(found)!), reason: `step "${found}" is on a cycle without a wait step: it would loop forever` });
      break;
    }
  }
  return problems.length > 0 ? { problems } : { definition };
}
