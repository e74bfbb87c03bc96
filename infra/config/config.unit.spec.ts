import { expect } from 'chai';
import { ConfigError, loadConfig } from './config.ts';

function problemsOf(env: NodeJS.ProcessEnv, role: Parameters<typeof loadConfig>[1] = 'all'): string[] {
  try {
    loadConfig(env, role);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  expect.fail('the configuration should have been refused');
}

describe('Configuration from the environment', () => {
  it('runs on defaults with nothing set (embedded database, port 3000)', () => {
    const config = loadConfig({}, 'all');
    expect(config.PORT).to.equal(3000);
    expect(config.DATABASE_URL).to.equal(undefined);
    expect(config.NEXUSFLOW_DATA_DIR).to.equal('./.nexusflow');
    expect(config.READ_YOUR_WRITES_TIMEOUT_MS).to.equal(2000);
    expect(config.TRUST_PROXY, 'forwarded headers are not trusted unless asked').to.equal(false);
  });

  it('reads numbers from strings and treats empty values as unset', () => {
    const config = loadConfig({ PORT: '8080', DATABASE_URL: '', BODY_LIMIT_BYTES: '1024' }, 'all');
    expect(config.PORT).to.equal(8080);
    expect(config.DATABASE_URL).to.equal(undefined);
    expect(config.BODY_LIMIT_BYTES).to.equal(1024);
  });

  it('names every bad value at once, with what it got', () => {
    const problems = problemsOf({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', REDIS_URL: 'localhost:6379' });
    expect(problems).to.have.length(4);
    expect(problems.find((p) => p.startsWith('REDIS_URL:'))).to.include('redis://');
    expect(problems.find((p) => p.startsWith('PORT:'))).to.include('"eighty"');
    expect(problems.find((p) => p.startsWith('DATABASE_URL:'))).to.include('postgres://');
    expect(problems.find((p) => p.startsWith('LOG_LEVEL:'))).to.include('"loud"');
  });

  it('requires a shared JWT secret once a real database is used, without echoing secrets', () => {
    const [problem] = problemsOf({ DATABASE_URL: 'postgres://db/nexusflow' });
    expect(problem).to.match(/^JWT_SECRET: is required when DATABASE_URL is set/);
    const [short] = problemsOf({ JWT_SECRET: 'too-short-secret' });
    expect(short).to.include('at least 32').and.include('***').and.not.include('too-short-secret');
  });

  it('runs billing offline without a Stripe key; a key needs its webhook secret; bad ones are named, never echoed', () => {
    const offline = loadConfig({}, 'all');
    expect([offline.STRIPE_SECRET_KEY, offline.STRIPE_API_URL, offline.BILLING_GRACE_DAYS]).to.deep.equal([undefined, 'https://api.stripe.com', 7]);
    const [missing] = problemsOf({ STRIPE_SECRET_KEY: 'sk_test_abc123' });
    expect(missing).to.match(/^STRIPE_WEBHOOK_SECRET: is required with STRIPE_SECRET_KEY/);
    const problems = problemsOf({ STRIPE_SECRET_KEY: 'pk_test_publishable', STRIPE_WEBHOOK_SECRET: 'secret' });
    expect(problems.find((p) => p.startsWith('STRIPE_SECRET_KEY:')))
      .to.include('secret or restricted key')
      .and.include('***')
      .and.not.include('pk_test');
    expect(problems.find((p) => p.startsWith('STRIPE_WEBHOOK_SECRET:'))).to.include('whsec_');
    const charging = loadConfig({ STRIPE_SECRET_KEY: 'sk_live_abc123', STRIPE_WEBHOOK_SECRET: 'whsec_abc123' }, 'all');
    expect(charging.STRIPE_SECRET_KEY).to.equal('sk_live_abc123');
  });

  it('refuses to start one role alone without DATABASE_URL', () => {
    const problems = problemsOf({}, 'query-api');
    expect(problems[0]).to.match(/^DATABASE_URL: is required to run query-api as its own process/);
    expect(problems[1]).to.match(/^REDIS_URL: is required to run query-api as its own process/);
    const config = loadConfig({ DATABASE_URL: 'postgres://db/x', JWT_SECRET: 'x'.repeat(32), REDIS_URL: 'redis://cache:6379' }, 'query-api');
    expect(config.DATABASE_URL).to.equal('postgres://db/x');
  });
});
