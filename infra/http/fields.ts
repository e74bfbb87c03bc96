import { z } from 'zod';
import { NotFoundError } from '../../domain/errors.ts';

/** Field validators shared by the HTTP edges. Messages read as "<field> <message>". */

export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const emailField = z
  .string({ error: 'must be a string' })
  .trim()
  .toLowerCase()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ error: 'must be a valid email address' }));

export const timeZoneField = z.string({ error: 'must be a string' }).refine(isTimeZone, 'must be an IANA time zone such as Europe/Paris');

export const textField = (max: number) =>
  z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const uuidLike = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What every command answers. */
export const commandResultSchema = z.object({
  id: z.string().describe('Id of the entity the command acted on'),
  revision: z.number().int().describe('Revision of the entity after the command (also in the ETag header)'),
  position: z.string().nullable().describe('Position of the last event in the global log; send it as X-Min-Position to read your own write'),
});

/** Ids are UUIDs; anything else cannot name an entity, so it is "not found" (never a 500, never a 400 that tells more). */
export function entityIdOf(params: Record<string, string>, what: string, name = 'id'): string {
  const id = params[name] ?? '';
  if (!uuidLike.test(id)) throw new NotFoundError(what);
  return id.toLowerCase();
}
