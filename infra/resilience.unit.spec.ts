import { expect } from 'chai';
import { DependencyUnavailableError, isDataError, isTransientDatabaseError } from './resilience.ts';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

describe('Classifying failures: wait and retry, or park the event', () => {
  it('waits out connection loss, shutdowns, exhaustion, lock and serialization failures', () => {
    for (const code of [
      '08000',
      '08003',
      '08006',
      '08001',
      '57P01',
      '57P03',
      '53300',
      '53100',
      '58030',
      '40001',
      '40P01',
      '55P03',
      'ECONNRESET',
      'ECONNREFUSED',
      'ETIMEDOUT',
    ]) {
      expect(isTransientDatabaseError(withCode(code)), code).to.equal(true);
      expect(isDataError(withCode(code)), code).to.equal(false);
    }
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).to.equal(true);
    expect(isTransientDatabaseError(new DependencyUnavailableError('RabbitMQ', new Error('down')))).to.equal(true);
  });

  it('parks what the data causes: data exceptions, integrity violations, a protocol violation raised by a value, program limits, bad JSON', () => {
    // 08P01 shares class 08 with connection loss; it is what a NUL in a text parameter raises on the embedded server.
    for (const code of ['08P01', '22021', '22P05', '22P02', '22003', '22008', '23505', '23502', '54000']) {
      expect(isDataError(withCode(code)), code).to.equal(true);
      expect(isTransientDatabaseError(withCode(code)), code).to.equal(false);
    }
    expect(isDataError(new SyntaxError('Unexpected token'))).to.equal(true);
  });

  it('leaves a bug as neither: it is retried a few times, then parked', () => {
    for (const err of [new TypeError("Cannot read properties of undefined (reading 'x')"), withCode('42P01'), withCode('42703')]) {
      expect(isDataError(err), err.message).to.equal(false);
      expect(isTransientDatabaseError(err), err.message).to.equal(false);
    }
  });
});
