import type Koa from 'koa';
import { actorOf, type Principal } from '../domain/access/principal.ts';
import { ValidationError } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events.ts';
import { authOf } from '../infra/http/authenticate.ts';
import type { CommandOutcome } from './command-handling.ts';

export type RequestContext = Omit<CommandContext, 'tenantId' | 'actor'>;

/** Where a request comes from and which request it is: the metadata of the events it causes, bar the actor. */
export function requestContextOf(ctx: Koa.Context): RequestContext {
  const userAgent = ctx.get('User-Agent');
  return {
    correlationId: ctx.state.correlationId,
    causationId: ctx.state.requestId,
    now: new Date(),
    ...(ctx.ip ? { ip: ctx.ip } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
  };
}

/** Metadata for the events an authenticated request causes: the organization, who (user or API key), from where. */
export function commandContextOf(ctx: Koa.Context): CommandContext {
  return contextFor(authOf(ctx), requestContextOf(ctx));
}

export function contextFor(principal: Principal, request: RequestContext): CommandContext {
  return { ...request, tenantId: principal.organizationId, actor: actorOf(principal) };
}

/** If-Match: "<revision>" (weak or unquoted accepted); absent or * means "whatever the current revision is". */
export function expectedRevisionFrom(ctx: Koa.Context): number | undefined {
  const header = ctx.get('If-Match').trim();
  if (header === '' || header === '*') return undefined;
  const match = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header);
  if (!match) {
    throw new ValidationError([{ name: 'If-Match', reason: 'must be an entity tag holding a revision, such as "3"' }]);
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
