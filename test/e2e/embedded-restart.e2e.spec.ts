import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { expect } from 'chai';
import { HttpClient, Mailbox, type Account } from '../support/http.ts';

const root = path.resolve(import.meta.dirname, '../..');

interface RunningSystem {
  child: ChildProcess;
  http: HttpClient;
  output: () => string;
}

/**
 * Starts `main.ts` the way `npm start` does, with no DATABASE_URL (so on the embedded PostgreSQL), on a
 * free port, and waits for its "listening" log line.
 */
async function startEmbedded(dataDir: string): Promise<RunningSystem> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NEXUSFLOW_DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    PASSWORD_HASH_COST: '10',
  };
  delete env.DATABASE_URL;
  delete env.JWT_SECRET;
  delete env.REDIS_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        if (!line.includes('"listening"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line).port);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${output}`));
    });
  });
  return { child, http: new HttpClient(`http://127.0.0.1:${port}`), output: () => output };
}

async function stopGracefully(system: RunningSystem): Promise<number | null> {
  const exited = once(system.child, 'exit');
  system.child.kill('SIGTERM');
  const [code] = await exited;
  return code as number | null;
}

describe('Embedded default (no DATABASE_URL): data survives a restart', function () {
  this.timeout(120_000);
  let dataDir: string;
  let running: RunningSystem | undefined;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'nexusflow-e2e-'));
  });
  after(async () => {
    if (running && running.child.exitCode === null) running.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps accounts, contacts and tokens across a graceful restart, and refuses a second process on the directory', async () => {
    running = await startEmbedded(dataDir);
    const registered = await running.http.post('/auth/register', {
      organizationName: 'Embedded Inc',
      name: 'Em',
      email: 'em@embedded.test',
      password: 'correct horse battery',
    });
    expect(registered.status, JSON.stringify(registered.body)).to.equal(202);
    // The default mail transport keeps the confirmation in the data directory's outbox.
    const confirmation = await new Mailbox(path.join(dataDir, 'outbox')).latest('em@embedded.test', 'signup-confirmation');
    const verified = await running.http.post('/auth/verify-email', { token: Mailbox.tokenIn(confirmation) });
    expect(verified.status, JSON.stringify(verified.body)).to.equal(201);
    const account = verified.body as Account;
    const created = await running.http.post('/contacts', { email: 'kept@example.com', tags: ['durable'] }, { token: account.accessToken });
    expect(created.status).to.equal(201);
    const read = await running.http.get(`/contacts/${created.body.id}`, {
      token: account.accessToken,
      headers: { 'X-Min-Position': created.body.position },
    });
    expect(read.status).to.equal(200);

    // A second process on the same data directory would corrupt it: it must refuse to start.
    const second = await startEmbedded(dataDir).then(
      (other) => {
        other.child.kill('SIGKILL');
        return null;
      },
      (err: Error) => err.message,
    );
    expect(second, 'a second process should not start on the same data directory').to.be.a('string');
    expect(second)
      .to.match(/exited with [1-9]/)
      .and.to.include('NEXUSFLOW_DATA_DIR');

    expect(await stopGracefully(running)).to.equal(0);
    expect(running.output()).to.include('"stopped"');

    running = await startEmbedded(dataDir);
    const again = await running.http.get(`/contacts/${created.body.id}`, { token: account.accessToken });
    expect(again.status, 'the token signed before the restart is still valid').to.equal(200);
    expect(again.body).to.deep.include({ email: 'kept@example.com', tags: ['durable'] });

    const login = await running.http.post('/auth/login', { email: 'em@embedded.test', password: 'correct horse battery' });
    expect(login.status).to.equal(200);
    const more = await running.http.post('/contacts', { email: 'kept@example.com' }, { token: login.body.accessToken });
    expect(more.status, 'the uniqueness claims survived too').to.equal(409);
    const list = await running.http.get('/contacts', { token: login.body.accessToken });
    expect(list.body.data).to.have.length(1);

    expect(await stopGracefully(running)).to.equal(0);
  });
});
