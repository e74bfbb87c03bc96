import { expect } from 'chai';
import { ident, quoteString, raw, render, sql } from './clickhouse-sql.ts';

describe('ClickHouse SQL rendering (the one escaping helper)', () => {
  it('quotes strings with backslashes, quotes and control characters escaped', () => {
    expect(quoteString("it's")).to.equal("'it\\'s'");
    expect(quoteString('a\\b')).to.equal("'a\\\\b'");
    expect(quoteString("\\'")).to.equal("'\\\\\\''");
    expect(quoteString('a\nb\0c\td')).to.equal("'a\\nb\\0c\\td'");
  });

  it('refuses values that are not values', () => {
    expect(() => render(Number.NaN)).to.throw(TypeError);
    expect(() => render(Number.POSITIVE_INFINITY)).to.throw(TypeError);
    expect(() => render(new Date('nope'))).to.throw(TypeError);
    expect(() => render([])).to.throw(TypeError);
    expect(() => render({} as never)).to.throw(TypeError);
  });

  it('allows identifiers only from the allow-list pattern', () => {
    expect(render(ident('analytics_events'))).to.equal('`analytics_events`');
    for (const bad of ['a`b', 'a b', '1abc', 'a;DROP', '', 'db.table', 'x'.repeat(200)]) expect(() => ident(bad), bad).to.throw(TypeError);
  });

  it('builds statements from a template, every interpolation rendered', () => {
    const query = sql`SELECT * FROM ${ident('t')} WHERE a = ${"x' OR 1=1"} AND n IN ${[1, 2]} AND at >= ${new Date(1_000_500)} ${raw('LIMIT 1')}`;
    expect(query.text).to.equal("SELECT * FROM `t` WHERE a = 'x\\' OR 1=1' AND n IN (1, 2) AND at >= toDateTime(1000) LIMIT 1");
  });
});
