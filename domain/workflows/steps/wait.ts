import { z } from 'zod';
import { weekdays } from '../definition.ts';
import { durationMs, minutesOfDay, nextTimeOfDay } from '../time.ts';
import { defineStep } from './step-type.ts';

export const wait = defineStep({
  type: 'wait',
  summary: 'Wait a duration (ISO 8601, e.g. P2D), or until a time of day in the contact\'s time zone',
  waits: true,
  config: z.union(
    [
      z.strictObject({
        duration: z.string().refine((value) => durationMs(value) !== null, 'must be a positive ISO 8601 duration such as PT30M or P2D'),
      }),
      z.strictObject({
        until: z.string().refine((value) => minutesOfDay(value) !== null, 'must be a time of day HH:MM'),
        days: z.array(z.enum(weekdays)).min(1).optional(),
      }),
    ],
    { error: 'must be {duration} or {until, days?}' },
  ),
  async run(config, context) {
    const until =
      'duration' in config
        ? new Date(context.now.getTime() + durationMs(config.duration)!)
        : nextTimeOfDay(context.now, config.until, context.zone, config.days);
    return { kind: 'wait', until, output: { until: until.toISOString() } };
  },
});
