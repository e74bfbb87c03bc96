/**
 * Business-rule failures a decider can report. The HTTP edge maps them to status codes; deciders never
 * know about HTTP.
 */
export class DomainError extends Error {
  constructor(
    message: string,
    /** Stable, machine-readable reason clients can branch on. */
    readonly code: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The entity does not exist (or belongs to another tenant, which callers must not be able to tell). */
export class NotFoundError extends DomainError {
  constructor(what: string, message = `${what} not found`, code = 'not_found') {
    super(message, code);
  }
}

/** One bad input, named the way the client sent it (a body field's path, a query parameter, a header). */
export interface InvalidParam {
  name: string;
  reason: string;
}

/** The input is not acceptable as given: each problem names its field. */
export class ValidationError extends DomainError {
  constructor(
    readonly invalidParams: readonly InvalidParam[],
    message = 'The request has invalid fields.',
  ) {
    super(message, 'validation_failed');
  }
}

/** The command clashes with the current state (duplicate, already deleted, etc.). */
export class ConflictError extends DomainError {
  constructor(
    message: string,
    code = 'conflict',
    readonly field?: string,
  ) {
    super(message, code);
  }
}

/** The command is well formed but not allowed by a business rule. */
export class RuleViolationError extends DomainError {
  constructor(
    message: string,
    code: string,
    readonly field?: string,
  ) {
    super(message, code);
  }
}

/** The caller is known but may not do this (a role or scope rule); answered 403. */
export class ForbiddenError extends DomainError {
  constructor(
    message: string,
    code = 'forbidden',
    readonly field?: string,
  ) {
    super(message, code);
  }
}

/** The caller's credentials (a session, a refresh token) are not, or no longer, valid. */
export class NotAuthenticatedError extends DomainError {
  constructor(message: string, code = 'not_authenticated') {
    super(message, code);
  }
}

/**
 * A one-time code offered as proof (an authenticator app's code, a recovery code) is wrong or used. Only
 * the code is refused: the caller's other credentials (a session, a sign-in challenge) may be fine.
 */
export class WrongCodeError extends DomainError {
  constructor(
    /** The field that held the code. */
    readonly field: string,
    /** What is wrong with it, for that field. */
    readonly reason: string,
    message = 'The code is wrong or expired.',
    code = 'invalid_mfa_code',
  ) {
    super(message, code);
  }
}

/** Repeated failures locked sign-in (passwords or codes) for a while: nothing is checked before the time is up. */
export class SignInLockedError extends DomainError {
  /** Whole seconds until a new attempt is checked (at least 1). */
  readonly retryAfterSeconds: number;

  constructor(lockedForMs: number, message?: string, code = 'login_locked') {
    const seconds = Math.max(1, Math.ceil(lockedForMs / 1000));
    super(message ?? `Sign-in for this account is locked for ${seconds} s after repeated failures.`, code);
    this.retryAfterSeconds = seconds;
  }
}

/**
 * A command would record text no read model can store (a NUL, an unpaired surrogate). The HTTP edge refuses
 * such input first; this is the line below it, so that no event can ever stop a projection.
 */
export class UnstorableTextError extends DomainError {
  constructor(
    readonly eventType: string,
    /** Where in the event's data, as a dotted path (usually the field the client sent). */
    readonly field: string,
  ) {
    super(`${field} must be valid text without NUL characters or unpaired surrogates`, 'unstorable_text');
  }
}
