import { expect } from 'chai';
import type { Reply } from './http.ts';

/** The answer is an RFC 9457 problem with this status, naming at least these fields in `invalid-params`. */
export function expectProblem(reply: Reply, status: number, fields: string[] = []): void {
  expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
  expect(reply.contentType).to.match(/^application\/problem\+json/);
  expect(reply.body.status).to.equal(status);
  expect(reply.body.title).to.be.a('string');
  const named = (reply.body['invalid-params'] ?? []).map((p: { name: string }) => p.name);
  for (const field of fields) expect(named, `invalid-params should name ${field}`).to.include(field);
}
