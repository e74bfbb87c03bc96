import { PlanLimitReachedError } from '../../domain/billing/quota.ts';
import type Koa from 'koa';
import type { Logger } from 'pino';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  NotAuthenticatedError,
  NotFoundError,
  RuleViolationError,
  SignInLockedError,
  UnstorableTextError,
  ValidationError,
  WrongCodeError,
  type InvalidParam,
} from '../../domain/errors.ts';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../command-api/ports.ts';
import { isTransientDatabaseError } from '../resilience.ts';
import { MAX_INVALID_PARAMS } from './text-rule.ts';

export type { InvalidParam };

/**
 * An error with an RFC 9457 problem-details body. Validation problems list every bad field in
 * `invalid-params` (the member name the RFC's own example uses).
 */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'ProblemError';
  }

  static validation(invalidParams: InvalidParam[], detail = 'The request has invalid fields.'): ProblemError {
    return new ProblemError(400, 'Invalid request', detail, { code: 'validation_failed', 'invalid-params': invalidParams });
  }

  static unauthorized(detail: string): ProblemError {
    return new ProblemError(401, 'Unauthorized', detail, { code: 'unauthorized' }, { 'WWW-Authenticate': 'Bearer' });
  }

  static forbidden(detail: string, code = 'forbidden', extra: Record<string, unknown> = {}): ProblemError {
    return new ProblemError(403, 'Forbidden', detail, { code, ...extra });
  }

  static notFound(what: string): ProblemError {
    return new ProblemError(404, 'Not found', `${what} not found`, { code: 'not_found' });
  }
}

const PROBLEM_TYPES: Record<number, string> = {
  400: 'invalid-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'rule-violation',
  429: 'too-many-requests',
  503: 'unavailable',
};

function typeFor(status: number): string {
  return `https://docs.nexusflow.io/problems/${PROBLEM_TYPES[status] ?? (status >= 500 ? 'internal-error' : 'error')}`;
}

/** Turns every error into problem+json; unexpected ones are logged and reported without internals. */
export function problemHandler(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw ProblemError.notFound(`Route ${ctx.method} ${ctx.path}`);
      if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === 'string')) {
        throw new ProblemError(
          405,
          'Method not allowed',
          `${ctx.method} is not allowed on ${ctx.path}`,
          { code: 'method_not_allowed' },
          { Allow: String(ctx.response.get('Allow')) },
        );
      }
    } catch (err) {
      const problem = toProblem(err);
      const logger: Logger | undefined = ctx.state.logger;
      if (problem.status >= 500) logger?.error({ err }, 'request failed');
      for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
      ctx.status = problem.status;
      ctx.body = bounded({
        type: typeFor(problem.status),
        title: problem.title,
        status: problem.status,
        ...(problem.detail ? { detail: problem.detail } : {}),
        instance: ctx.path,
        requestId: ctx.state.requestId,
        ...problem.extra,
      });
      // After the body: Koa types every object body as application/json when it is assigned.
      ctx.type = 'application/problem+json';
    }
  };
}

/** Longest text of a problem member (names and reasons echo what the client sent, which may be huge). */
const MAX_PROBLEM_TEXT = 200;
/** No error answer is larger than this, whatever the request was. */
export const MAX_PROBLEM_BYTES = 16 * 1024;

/**
 * Every error answer stays small: at most MAX_INVALID_PARAMS entries, each name and reason and every other
 * text member cut to MAX_PROBLEM_TEXT characters, and entries dropped from the end until the whole answer
 * fits in MAX_PROBLEM_BYTES. `invalid-params-omitted` says how many were left out.
 */
function bounded(body: Record<string, unknown>): Record<string, unknown> {
  const cut = (value: unknown) =>
    typeof value === 'string' && value.length > MAX_PROBLEM_TEXT ? `${value.slice(0, MAX_PROBLEM_TEXT).toWellFormed()}…` : value;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) out[key] = cut(value);
  const params = body['invalid-params'];
  if (!Array.isArray(params)) return out;
  const kept = params.slice(0, MAX_INVALID_PARAMS).map((param: InvalidParam) => ({ name: cut(param.name), reason: cut(param.reason) }));
  const withParams = () => ({
    ...out,
    'invalid-params': kept,
    ...(kept.length < params.length ? { 'invalid-params-omitted': params.length - kept.length } : {}),
  });
  while (kept.length > 1 && Buffer.byteLength(JSON.stringify(withParams())) > MAX_PROBLEM_BYTES) kept.pop();
  return withParams();
}

/**
 * The one mapping from what went wrong to the answer: HTTP problems raised at the edge pass through, domain
 * errors (which know nothing of HTTP) get their status, members and headers here, anything else is a 4xx
 * from the framework, a 503 for an unreachable backing service, or a 500 that tells nothing.
 */
export function toProblem(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  return storeProblem(err) ?? domainProblem(err) ?? frameworkProblem(err) ?? unexpectedProblem(err);
}

function storeProblem(err: unknown): ProblemError | null {
  if (err instanceof WrongExpectedRevisionError) {
    return new ProblemError(409, 'Conflict', 'The resource was changed by someone else; read it again and retry.', {
      code: 'revision_conflict',
      currentRevision: err.actual === 'no_stream' ? null : err.actual,
    });
  }
  if (err instanceof DuplicateEventIdError) {
    return new ProblemError(409, 'Conflict', 'This change was already recorded.', { code: 'duplicate' });
  }
  return null;
}

/** `invalid-params` naming the one field a domain error is about, when it names one. */
const fieldParam = (err: DomainError & { field?: string | undefined }) =>
  err.field ? { 'invalid-params': [{ name: err.field, reason: err.message }] } : {};

function domainProblem(err: unknown): ProblemError | null {
  if (!(err instanceof DomainError)) return null;
  if (err instanceof ValidationError) return ProblemError.validation([...err.invalidParams], err.message);
  if (err instanceof UnstorableTextError) return ProblemError.validation([{ name: err.field, reason: err.message }]);
  if (err instanceof NotAuthenticatedError) {
    return new ProblemError(401, 'Unauthorized', err.message, { code: err.code }, { 'WWW-Authenticate': 'Bearer' });
  }
  // Not a matter of the credentials the request was sent with: no new ones are asked for (no WWW-Authenticate).
  if (err instanceof WrongCodeError) {
    return new ProblemError(401, 'Unauthorized', err.message, { code: err.code, 'invalid-params': [{ name: err.field, reason: err.reason }] });
  }
  if (err instanceof SignInLockedError) {
    return new ProblemError(429, 'Too many failed sign-ins', err.message, { code: err.code }, { 'Retry-After': String(err.retryAfterSeconds) });
  }
  if (err instanceof PlanLimitReachedError) {
    // The limit, the usage and the plan, and where to upgrade (the plans, then PUT /billing/plan).
    return new ProblemError(402, 'Plan limit reached', err.message, {
      code: err.code,
      limit: err.kind,
      allowed: err.limit,
      usage: err.usage,
      plan: err.plan,
      upgrade: '/billing/plans',
    });
  }
  if (err instanceof ForbiddenError) return ProblemError.forbidden(err.message, err.code, fieldParam(err));
  if (err instanceof NotFoundError) return new ProblemError(404, 'Not found', err.message, { code: err.code });
  if (err instanceof ConflictError) return new ProblemError(409, 'Conflict', err.message, { code: err.code, ...fieldParam(err) });
  if (err instanceof RuleViolationError) return new ProblemError(422, 'Rule violation', err.message, { code: err.code, ...fieldParam(err) });
  return new ProblemError(422, 'Rule violation', err.message, { code: err.code });
}

/** Errors Koa and its body parser raise with a 4xx status of their own. */
function frameworkProblem(err: unknown): ProblemError | null {
  const status = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return null;
  if (status === 413) {
    return new ProblemError(413, 'Payload too large', 'The request body exceeds the size limit.', { code: 'payload_too_large' });
  }
  // @koa/bodyparser reports malformed JSON as a SyntaxError with status 400 (co-body as entity.parse.failed).
  if (status === 400 && (err instanceof SyntaxError || (err as { type?: string }).type === 'entity.parse.failed')) {
    return new ProblemError(400, 'Invalid request', 'The body is not valid JSON.', {
      code: 'malformed_json',
      'invalid-params': [{ name: 'body', reason: 'is not valid JSON' }],
    });
  }
  const expose = (err as { expose?: unknown }).expose === true;
  return new ProblemError(
    status,
    expose && err instanceof Error ? err.message : 'Bad request',
    expose && err instanceof Error ? err.message : undefined,
  );
}

function unexpectedProblem(err: unknown): ProblemError {
  if (isTransientDatabaseError(err)) {
    return new ProblemError(
      503,
      'Service unavailable',
      'A backing service is unavailable; retry shortly.',
      { code: 'unavailable' },
      { 'Retry-After': '1' },
    );
  }
  return new ProblemError(500, 'Internal error', 'Something went wrong on our side; the request id identifies it.', { code: 'internal' });
}
