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
  constructor(what: string) {
    super(`${what} not found`, 'not_found');
  }
}

/** The command clashes with the current state (duplicate, already deleted, etc.). */
export class ConflictError extends DomainError {
  constructor(message: string, code = 'conflict', readonly field?: string) {
    super(message, code);
  }
}

/** The command is well formed but not allowed by a business rule. */
export class RuleViolationError extends DomainError {
  constructor(message: string, code: string, readonly field?: string) {
    super(message, code);
  }
}

/** The caller is known but may not do this (a role or scope rule); answered 403. */
export class ForbiddenError extends DomainError {
  constructor(message: string, code = 'forbidden', readonly field?: string) {
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
