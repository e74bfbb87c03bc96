import type Koa from 'koa';
import type { CommandContext } from '../domain/events.ts';
import { authOf } from '../infra/http/authenticate.ts';
import { ProblemError } from '../infra/http/problem.ts';
import type { CommandOutcome } from './command-handling.ts';

/** Where a request comes from and which request it is: the metadata of the events it causes, bar the actor. */
export function requestContextOf(ctx: Koa.Context): Omit<CommandContext, 'tenantId' | 'actor'> {
  const userAgent = ctx.get('User-Agent');
  return {
    correlationId: ctx.state.correlationId,
    causationId: ctx.state.requestId,
    now: new Date(),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
  };
}

/** Metadata for the events a request causes: who, from where, and which request. */
export function commandContextOf(ctx: Koa.Context, tenantOverride?: { tenantId: string; userId: string }): CommandContext {
  const auth = tenantOverride ? null : authOf(ctx);
  return {
    ...requestContextOf(ctx),
    tenantId: tenantOverride?.tenantId ?? auth!.organizationId,
    actor: { type: 'user', id: tenantOverride?.userId ?? auth!.userId },
  };
}

/** If-Match: "<revision>" (weak or unquoted accepted); absent or * means "whatever the current revision is". */
export function expectedRevisionFrom(ctx: Koa.Context): number | undefined {
  const header = ctx.get('If-Match').trim();
  if (header === '' || header === '*') return undefined;
  const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header);
  if (!match) {
    throw ProblemError.validation([{ name: 'If-Match', reason: 'must be an entity tag holding a revision, such as "3"' }]);
  }
  return Number(match[1]);
}

export function respondWithOutcome(ctx: Koa.Context, id: string, outcome: CommandOutcome<unknown>, status = 200): void {
  ctx.status = status;
  ctx.set('ETag', `"${outcome.revision}"`);
  ctx.body = { id, revision: outcome.revision, position: outcome.position };
}

export const ifMatchHeader = {
  name: 'If-Match',
  description: 'The revision you last read (ETag). If someone changed the entity since, the command answers 409.',
};
