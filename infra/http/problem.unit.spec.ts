import { expect } from 'chai';
import { NotAuthenticatedError, NotFoundError, SignInLockedError, ValidationError, WrongCodeError } from '../../domain/errors.ts';
import { ProblemError, toProblem } from './problem.ts';

const answer = (problem: ProblemError) => ({
  status: problem.status,
  title: problem.title,
  detail: problem.detail,
  extra: problem.extra,
  headers: problem.headers,
});

describe('Problem answers for domain errors (one mapper at the edge)', () => {
  it('a validation error is a 400 naming each bad field, with its own detail or the usual one', () => {
    const params = [{ name: 'steps.0.next', reason: 'is not a step' }];
    expect(answer(toProblem(new ValidationError(params, 'The workflow definition is not valid.')))).to.deep.equal(
      answer(ProblemError.validation(params, 'The workflow definition is not valid.')),
    );
    expect(answer(toProblem(new ValidationError(params)))).to.deep.equal(answer(ProblemError.validation(params)));
  });

  it('a sign-in lock is a 429 with Retry-After in whole seconds, at least one', () => {
    expect(answer(toProblem(new SignInLockedError(1_500)))).to.deep.equal({
      status: 429,
      title: 'Too many failed sign-ins',
      detail: 'Sign-in for this account is locked for 2 s after repeated failures.',
      extra: { code: 'login_locked' },
      headers: { 'Retry-After': '2' },
    });
    expect(toProblem(new SignInLockedError(1)).headers).to.deep.equal({ 'Retry-After': '1' });
  });

  it('a wrong one-time code is a 401 naming the field, without asking for new credentials', () => {
    expect(answer(toProblem(new WrongCodeError('code', 'is not a current code')))).to.deep.equal({
      status: 401,
      title: 'Unauthorized',
      detail: 'The code is wrong or expired.',
      extra: { code: 'invalid_mfa_code', 'invalid-params': [{ name: 'code', reason: 'is not a current code' }] },
      headers: {},
    });
  });

  it('refused credentials are a 401 with WWW-Authenticate; a missing entity a 404, with its own message and code when given', () => {
    expect(answer(toProblem(new NotAuthenticatedError('Invalid email or password.', 'unauthorized')))).to.deep.equal(
      answer(ProblemError.unauthorized('Invalid email or password.')),
    );
    expect(answer(toProblem(new NotFoundError('Workflow')))).to.deep.equal(answer(ProblemError.notFound('Workflow')));
    expect(answer(toProblem(new NotFoundError('contact', 'contact c-1 did not exist yet at 2026-01-01', 'not_yet')))).to.deep.equal({
      status: 404,
      title: 'Not found',
      detail: 'contact c-1 did not exist yet at 2026-01-01',
      extra: { code: 'not_yet' },
      headers: {},
    });
  });
});
