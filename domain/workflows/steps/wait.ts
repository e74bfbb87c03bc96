import { z } from 'zod';
import { weekdays } from '../definition.ts';
import { durationMs, minutesOfDay, nextTimeOfDay, waitDurationProblem } from '../time.ts';
import { defineStep, StepError } from './step-type.ts';

export const wait = defineStep({
  type: 'wait',
  logOnly: true,
  summary: "Wait a duration (ISO 8601, PT1S to P1Y, e.g. P2D), or until a time of day in the contact's time zone",
  waits: true,
  // One object rather than a union of two, so a problem is named by its field (`config.days`), not `config`.
  config: z
    .strictObject({
      duration: z
        .string()
        .max(64)
        .superRefine((value, ctx) => {
          const problem = waitDurationProblem(value);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .optional(),
      until: z
        .string()
        .refine((value) => minutesOfDay(value) !== null, 'must be a time of day HH:MM')
        .optional(),
      days: z.array(z.enum(weekdays)).min(1).max(weekdays.length).optional(),
    })
    .superRefine((config, ctx) => {
      if ((config.duration === undefined) === (config.until === undefined))
        ctx.addIssue({ code: 'custom', message: 'must be {duration} or {until, days?}' });
      else if (config.duration !== undefined && config.days !== undefined)
        ctx.addIssue({ code: 'custom', path: ['days'], message: 'goes with until, not with duration' });
    }),
  async run(config, context) {
    let until: Date;
    if (config.duration !== undefined) {
      // Only a definition saved before durations were bounded gets here with one out of bounds.
      const problem = waitDurationProblem(config.duration);
      if (problem) throw new StepError(`the duration ${config.duration} ${problem}`, false, 'invalid_duration');
      until = new Date(context.now.getTime() + durationMs(config.duration)!);
    } else {
      until = nextTimeOfDay(context.now, config.until!, context.zone, config.days);
    }
    return { kind: 'wait', until, output: { until: until.toISOString() } };
  },
});
