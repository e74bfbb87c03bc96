import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { isWrite, type Permission } from '../../domain/access/permissions.ts';
import { holds, type Principal } from '../../domain/access/principal.ts';
import type { Metrics } from '../observability/metrics.ts';
import { ProblemError, type InvalidParam } from './problem.ts';
import { FreeTextFields, MAX_INVALID_PARAMS, textProblemsIn } from './text-rule.ts';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface HeaderDoc {
  name: string;
  description: string;
  required?: boolean;
}

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
  /** A body other than JSON (e.g. text/csv); documented as a string unless `schema` says more. */
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * Who may call a route. A route that needs a caller names the ONE permission it needs (the type makes it
 * impossible to forget); the edge refuses everyone else with 403 before the handler runs.
 */
export type RouteAccess = { auth: 'none'; permission?: never } | { auth: 'bearer'; permission: Permission };

/**
 * One HTTP route: its input schemas drive validation AND the OpenAPI document, so the two cannot drift.
 * Handlers receive parsed input; they never see an unvalidated body or query.
 */
export type RouteSpec<Body = unknown, Query = unknown> = RouteDefinition<Body, Query> & RouteAccess;

interface RouteDefinition<Body, Query> {
  method: HttpMethod;
  /** Koa style, e.g. /contacts/:id */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  body?: z.ZodType<Body>;
  bodyExample?: unknown;
  /**
   * The handler gets the body as the exact bytes received (`input.rawBody`), unparsed and whatever its media
   * type, up to the body limit: for signatures computed over the body (a provider's webhooks). Not with `body`.
   */
  rawBody?: true;
  /**
   * Body fields that may hold line breaks (dotted paths, `*` for any key or index: `steps.*.config.body`).
   * Every other string the route accepts is single-line; no string anywhere may hold control characters or
   * unpaired surrogates (domain/text.ts).
   */
  freeText?: readonly string[];
  query?: z.ZodType<Query>;
  /**
   * The route takes or hands out credentials (passwords, tokens, codes, keys): sign-in, refresh, sign-up,
   * resets... Its answers are never stored anywhere: `Idempotency-Key` is ignored (a replay would hand a
   * spent token's answer out again, and the answer would sit in Redis), and every answer, errors included,
   * carries `Cache-Control: no-store` and `Pragma: no-cache`.
   */
  credentials?: true;
  headers?: HeaderDoc[];
  /**
   * Read models (projection names) the route reads. Such a route honours X-Min-Position: it answers only
   * once these read models include that position.
   */
  readModels?: string[];
  responses: Record<number, ResponseDoc>;
  handler(ctx: Koa.ParameterizedContext, input: { body: Body; query: Query; params: Record<string, string>; rawBody?: Buffer }): Promise<void>;
}

export function defineRoute<Body = undefined, Query = undefined>(spec: RouteSpec<Body, Query>): RouteSpec<Body, Query> {
  return spec;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a list of routes, each with its own body and query types
export type AnyRoute = RouteSpec<any, any>;

/** Whether writes of an organization are refused: staff suspended it, or billing restricted it (unpaid). */
export interface SuspensionCheck {
  isSuspended(organizationId: string): Promise<boolean>;
  /** Since when and why billing refuses the organization's writes (billing's own routes stay open); null: it does not. */
  restriction?(organizationId: string): Promise<{ since: string; reason: string } | null>;
}

export interface MountOptions {
  bodyLimitBytes: number;
  /** The gateway of authenticated routes: the caller, its revocation marks and rate limits (authenticate.ts). */
  authenticate: Koa.Middleware;
  /** The client IP's limit, for routes that authenticate nobody. */
  ipLimit?: Koa.Middleware;
  /** Where the layers' costs are recorded (validation here). */
  metrics?: Metrics;
  /** Runs once the caller is known (e.g. the organization's rate limit). */
  afterAuthentication?: (ctx: Koa.ParameterizedContext, principal: Principal) => Promise<void>;
  /** Refuses writes of suspended organizations (processes that serve no commands have none). */
  suspensions?: SuspensionCheck;
  /** Wraps every command (non-GET) route once its body is parsed (e.g. Idempotency-Key). */
  aroundCommand?: Koa.Middleware;
  /** Runs after validation, before the handler (e.g. waiting for read models). */
  beforeHandler?: (ctx: Koa.ParameterizedContext, route: AnyRoute) => Promise<void>;
}

/**
 * Mounts routes on a router. Per route, in order: authentication, permission (403), suspension (403 for
 * writes), JSON body parsing (size-limited, only where a route takes a body), command wrapping, validation,
 * handler.
 */
export function mountRoutes(router: Router, routes: AnyRoute[], options: MountOptions): Router {
  const parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: options.bodyLimitBytes, encoding: 'utf-8' });
  for (const route of routes) {
    const freeText = new FreeTextFields(route.freeText);
    const middleware: Koa.Middleware[] = [];
    if (route.auth === 'bearer') {
      middleware.push(options.authenticate, authorize(route.permission, options));
    } else if (options.ipLimit) {
      middleware.push(options.ipLimit);
    }
    if (route.credentials) middleware.unshift(neverStored);
    if (route.body) middleware.push(requireJson, parseJson);
    else if (route.rawBody) middleware.push(readRawBody(options.bodyLimitBytes));
    if (route.method !== 'get' && options.aroundCommand && !route.credentials) middleware.push(options.aroundCommand);
    middleware.push(async (ctx) => {
      const validated = options.metrics?.layer('validation');
      // The text rule first, on everything the client sent (keys too), whatever the route's schemas say.
      const textProblems = [
        ...textProblemsIn(ctx.params),
        ...textProblemsIn(ctx.query),
        ...(route.body ? textProblemsIn(ctx.request.body ?? {}, freeText) : []),
      ];
      if (textProblems.length > 0) throw ProblemError.validation(textProblems);
      const input = {
        body: route.body ? parseOrThrow(route.body, ctx.request.body ?? {}, 'body') : undefined,
        query: route.query ? parseOrThrow(route.query, ctx.query, 'query') : undefined,
        params: ctx.params as Record<string, string>,
        ...(route.rawBody ? { rawBody: (ctx.state as { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0) } : {}),
      };
      validated?.();
      await options.beforeHandler?.(ctx, route);
      await route.handler(ctx, input);
    });
    router.register(route.path, [route.method.toUpperCase()], middleware, { name: route.operationId });
  }
  return router;
}

function authorize(permission: Permission, options: MountOptions): Koa.Middleware {
  const write = isWrite(permission);
  return async (ctx, next) => {
    const principal = ctx.state.auth as Principal;
    await options.afterAuthentication?.(ctx, principal);
    if (!holds(principal, permission)) {
      throw ProblemError.forbidden(
        principal.kind === 'user'
          ? `Your role (${principal.role}) does not allow this (it needs the ${permission} permission).`
          : `This API key does not have the ${permission} scope.`,
        'insufficient_permission',
        { permission },
      );
    }
    if (write && options.suspensions && (await options.suspensions.isSuspended(principal.organizationId))) {
      throw ProblemError.forbidden(
        'Your organization is suspended: it can read its data but not change it. Contact support.',
        'organization_suspended',
      );
    }
    // Billing's own routes stay open to a restricted organization: paying is how it gets out.
    if (write && !permission.startsWith('billing:') && options.suspensions?.restriction) {
      const restricted = await options.suspensions.restriction(principal.organizationId);
      if (restricted) {
        throw new ProblemError(
          402,
          'Payment required',
          `Your organization's plan is unpaid (${restricted.reason.replaceAll('_', ' ')}): it can read its data but not change it until billing is settled.`,
          { code: 'organization_restricted', reason: restricted.reason, since: restricted.since, billing: '/billing/subscription' },
        );
      }
    }
    await next();
  };
}

/** Answers that carry credentials are kept by no cache, shared or private (HTTP/1.0 ones included). */
const neverStored: Koa.Middleware = async (ctx, next) => {
  ctx.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  await next();
};

/** Reads the body's bytes as sent (size-limited) into ctx.state.rawBody. */
function readRawBody(limitBytes: number): Koa.Middleware {
  const tooLarge = () => new ProblemError(413, 'Payload too large', 'The request body exceeds the size limit.', { code: 'payload_too_large' });
  return async (ctx, next) => {
    if (Number(ctx.get('Content-Length') || 0) > limitBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limitBytes) throw tooLarge();
      chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks);
    (ctx.state as { rawBody?: Buffer }).rawBody = raw;
    // What Idempotency-Key fingerprints (as for parsed bodies).
    (ctx.request as { rawBody?: string }).rawBody = raw.toString('base64');
    await next();
  };
}

/** A body on a JSON API must say it is JSON; anything else is a 415, not a silently empty body. */
const requireJson: Koa.Middleware = async (ctx, next) => {
  const hasBody = Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '';
  if (hasBody && !ctx.is('application/json', 'application/*+json')) {
    throw new ProblemError(415, 'Unsupported media type', 'Send the body as application/json.', {
      code: 'unsupported_media_type',
      'invalid-params': [{ name: 'Content-Type', reason: 'must be application/json' }],
    });
  }
  await next();
};

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'header'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw ProblemError.validation(toInvalidParams(result.error, where));
}

export function toInvalidParams(error: z.ZodError, where: 'body' | 'query' | 'header'): InvalidParam[] {
  // A body with 100,000 bad items has as many issues; the answer names the first ones (see problemHandler).
  return error.issues
    .slice(0, MAX_INVALID_PARAMS)
    .map((issue) => {
      // Unknown keys are reported on the key itself, not on the object holding it.
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      return keys.map((key) => {
        const path = [...issue.path, ...(key === undefined ? [] : [key])].map(String);
        return {
          name: path.length > 0 ? path.join('.') : where,
          reason: issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message,
        };
      });
    })
    .flat();
}
