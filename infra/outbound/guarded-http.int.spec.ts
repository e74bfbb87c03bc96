import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { AddressPolicy } from './address-policy.ts';
import { GuardedHttpClient, OutboundRefusedError, type OutboundRequest, type Resolve } from './guarded-http.ts';

/**
 * A listener on the loopback interface, on 127.0.0.1 and (where the machine has IPv6) on ::1 with the same
 * port, that counts every TCP connection it accepts.
 */
class LoopbackListener {
  connections = 0;
  readonly requests: { host: string | undefined; url: string | undefined }[] = [];
  private readonly servers: Server[] = [];
  port = 0;

  constructor(private readonly answer: RequestListener) {}

  async start(): Promise<this> {
    for (let tries = 0; ; tries++) {
      const v4 = await this.listen('127.0.0.1', 0);
      this.port = (v4.address() as AddressInfo).port;
      try {
        await this.listen('::1', this.port);
        return this;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return this; // no IPv6 here: ::1 has nobody to reach
        await this.stop();
        if (tries === 5) throw err;
      }
    }
  }

  private listen(host: string, port: number): Promise<Server> {
    const server = createServer((req, res) => {
      this.requests.push({ host: req.headers.host, url: req.url });
      this.answer(req, res);
    });
    server.on('connection', () => this.connections++);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, ipv6Only: true }, () => {
        this.servers.push(server);
        resolve(server);
      });
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
  }
}

async function refusal(client: GuardedHttpClient, request: Partial<OutboundRequest> & { url: string }): Promise<OutboundRefusedError> {
  try {
    await client.request({ method: 'GET', timeoutMs: 5_000, maxResponseBytes: 1_000, ...request });
  } catch (err) {
    expect(err, `${request.url}: ${(err as Error).message}`).to.be.instanceOf(OutboundRefusedError);
    return err as OutboundRefusedError;
  }
  throw new Error(`${request.url} was not refused`);
}

describe('Guarded outbound HTTP client (real sockets)', function () {
  this.timeout(20_000);
  let listener: LoopbackListener;
  const clients: GuardedHttpClient[] = [];
  const client = (allowList: string[] = [], lookup?: Resolve) => {
    const made = new GuardedHttpClient({ policy: new AddressPolicy(allowList), ...(lookup ? { lookup } : {}) });
    clients.push(made);
    return made;
  };

  beforeEach(async () => {
    listener = await new LoopbackListener((req, res) => {
      if (req.url === '/big') {
        res.setHeader('content-type', 'text/plain');
        res.end('x'.repeat(100_000));
      } else res.end('hello');
    }).start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await listener.stop();
  });

  it('refuses every spelling of a loopback or unspecified address without connecting', async () => {
    const guarded = client();
    const hosts = [
      '127.0.0.1',
      'localhost',
      '127.1',
      '2130706433',
      '0x7f000001',
      '[::ffff:127.0.0.1]',
      '0.0.0.0',
      '[::1]',
      '[::ffff:7f00:1]',
      '[::]',
      '127.0.0.1.',
    ];
    for (const host of hosts) {
      const err = await refusal(guarded, { url: `http://${host}:${listener.port}/hook` });
      expect(err.message, host).to.match(/^refused: .*(a loopback address|an unspecified address)/);
      expect(err.code).to.equal('outbound_refused');
    }
    expect(listener.connections, 'connections the listener saw').to.equal(0);
    expect(listener.requests).to.deep.equal([]);
  });

  it('refuses the metadata address, also behind a name and in an IPv6 form, before any connection', async () => {
    const looked: string[] = [];
    const guarded = client([], async (hostname) => {
      looked.push(hostname);
      return [{ address: '169.254.169.254', family: 4 }];
    });
    expect((await refusal(guarded, { url: 'http://169.254.169.254/latest/meta-data/' })).message).to.equal(
      'refused: 169.254.169.254 is a cloud metadata address',
    );
    expect((await refusal(guarded, { url: 'http://[::ffff:169.254.169.254]/latest/meta-data/' })).message).to.match(
      /carries 169\.254\.169\.254, a cloud metadata address/,
    );
    expect((await refusal(guarded, { url: 'http://[fd00:ec2::254]/latest/meta-data/' })).message).to.match(/cloud metadata/);
    expect(looked, 'IP literals are never looked up').to.deep.equal([]);
    expect((await refusal(guarded, { url: 'http://metadata.test/latest/meta-data/' })).message).to.equal(
      'refused: metadata.test resolves to 169.254.169.254, a cloud metadata address',
    );
    expect(looked).to.deep.equal(['metadata.test']);
  });

  it('refuses a name when any one of its addresses is refused, even with a public one first', async () => {
    const guarded = client([], async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ]);
    expect((await refusal(guarded, { url: 'https://mixed.test/' })).message).to.equal('refused: mixed.test resolves to 10.0.0.7, a private address');

    const rebinding = client([], async () => [
      { address: '2606:4700:4700::1111', family: 6 },
      { address: '127.0.0.1', family: 4 },
    ]);
    expect((await refusal(rebinding, { url: `http://rebind.test:${listener.port}/` })).message).to.match(/127\.0\.0\.1, a loopback address/);
    expect(listener.connections).to.equal(0);
  });

  it('connects to the addresses it vetted itself (its own resolution, no second one by the socket)', async () => {
    const guarded = client(['127.0.0.1/32'], async (hostname) => (hostname === 'hook.test' ? [{ address: '127.0.0.1', family: 4 }] : []));
    const answer = await guarded.request({
      method: 'GET',
      url: `http://hook.test:${listener.port}/vetted`,
      timeoutMs: 5_000,
      maxResponseBytes: 1_000,
    });
    expect(answer.status).to.equal(200);
    expect(answer.body.toString()).to.equal('hello');
    expect(listener.requests).to.deep.equal([{ host: `hook.test:${listener.port}`, url: '/vetted' }]);
  });

  it('reaches an allow-listed listener, with the body bounded and the headers kept', async () => {
    const guarded = client(['127.0.0.1/32']);
    const big = await guarded.request({ method: 'GET', url: `http://127.0.0.1:${listener.port}/big`, timeoutMs: 5_000, maxResponseBytes: 1_000 });
    expect(big.status).to.equal(200);
    expect(big.body.length).to.equal(1_000);
    expect(big.truncated).to.equal(true);
    expect(big.headers['content-type']).to.equal('text/plain');
    const small = await guarded.request({
      method: 'POST',
      url: `http://127.0.0.1:${listener.port}/small`,
      body: '{}',
      timeoutMs: 5_000,
      maxResponseBytes: 1_000,
    });
    expect(small.body.toString()).to.equal('hello');
    expect(small.truncated).to.equal(false);
    expect(listener.connections).to.be.at.least(1);
    // The allow-list opens what it names, nothing more: ::1 is still loopback.
    listener.connections = 0;
    await refusal(guarded, { url: `http://[::1]:${listener.port}/` });
    const dualStack = client(['127.0.0.1/32'], async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    expect((await refusal(dualStack, { url: `http://localhost:${listener.port}/` })).message).to.equal(
      'refused: localhost resolves to ::1, a loopback address',
    );
    expect(listener.connections).to.equal(0);
  });

  it('applies the same checks to client libraries through its fetch and its node agents', async () => {
    const { get } = await import('node:http');
    const viaAgent = (agent: import('node:http').Agent, url: string) =>
      new Promise<string>((resolve, reject) => {
        const req = get(url, { agent }, (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
      });
    const refused = client();
    const named = client([], async () => [{ address: '127.0.0.1', family: 4 }]);
    for (const url of [`http://127.0.0.1:${listener.port}/lib`, `http://[::1]:${listener.port}/lib`]) {
      const viaFetch = await refused.fetch(url).then(
        () => null,
        (err: unknown) => err,
      );
      expect(viaFetch, url).to.be.instanceOf(OutboundRefusedError);
      const err = await viaAgent(refused.nodeAgents().http, url).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, url).to.be.instanceOf(OutboundRefusedError);
    }
    const byName = await viaAgent(named.nodeAgents().http, `http://crm.test:${listener.port}/lib`).then(
      () => null,
      (e: unknown) => e,
    );
    expect((byName as Error).message).to.equal('refused: crm.test resolves to 127.0.0.1, a loopback address');
    const byNameFetch = await named.fetch(`http://crm.test:${listener.port}/lib`).then(
      () => null,
      (e: unknown) => (e as Error & { cause?: Error }).cause ?? e,
    );
    expect((byNameFetch as Error).message).to.equal('refused: crm.test resolves to 127.0.0.1, a loopback address');
    expect(listener.connections).to.equal(0);

    const allowed = client(['127.0.0.1/32'], async () => [{ address: '127.0.0.1', family: 4 }]);
    expect(await (await allowed.fetch(`http://crm.test:${listener.port}/lib`)).text()).to.equal('hello');
    expect(await viaAgent(allowed.nodeAgents().http, `http://crm.test:${listener.port}/lib`)).to.equal('hello');
    expect(listener.requests.map((r) => r.host)).to.deep.equal([`crm.test:${listener.port}`, `crm.test:${listener.port}`]);
  });

  it('does not follow a redirect from an allowed server to a refused address', async () => {
    const redirecting = await new LoopbackListener((req, res) => {
      res.statusCode = 302;
      res.setHeader('location', req.url === '/to-metadata' ? 'http://169.254.169.254/latest/meta-data/' : `http://[::1]:${listener.port}/secret`);
      res.end();
    }).start();
    try {
      // 127.0.0.1 is open to the operator's service; the [::1] listener is not.
      const guarded = client(['127.0.0.1/32']);
      for (const path of ['/to-loopback', '/to-metadata']) {
        const answer = await guarded.request({
          method: 'GET',
          url: `http://127.0.0.1:${redirecting.port}${path}`,
          timeoutMs: 5_000,
          maxResponseBytes: 1_000,
        });
        expect(answer.status).to.equal(302);
        // A caller that chose to follow it would go through the same guard:
        await refusal(guarded, { url: String(answer.headers.location) });
      }
      expect(redirecting.requests.map((r) => r.url)).to.deep.equal(['/to-loopback', '/to-metadata']);
      expect(listener.connections, 'the redirect target was never reached').to.equal(0);
    } finally {
      await redirecting.stop();
    }
  });

  it('sends only http and https, and no credentials in the URL', async () => {
    const guarded = client(['127.0.0.1/32']);
    expect((await refusal(guarded, { url: `ftp://127.0.0.1:${listener.port}/` })).message).to.match(/only http and https/);
    expect((await refusal(guarded, { url: `file:///etc/passwd` })).message).to.match(/only http and https/);
    expect((await refusal(guarded, { url: `http://user:secret@127.0.0.1:${listener.port}/` })).message).to.match(/credentials/);
    expect((await refusal(guarded, { url: 'not a url' })).message).to.match(/not a valid URL/);
    expect(listener.connections).to.equal(0);
  });

  it('gives up at the deadline when an allowed server does not answer', async () => {
    const silent = await new LoopbackListener(() => {}).start();
    try {
      const guarded = client(['127.0.0.1/32']);
      const failure = await guarded.request({ method: 'GET', url: `http://127.0.0.1:${silent.port}/`, timeoutMs: 300, maxResponseBytes: 1_000 }).then(
        () => null,
        (err: Error) => err,
      );
      expect(failure).to.be.instanceOf(Error);
      expect(failure).not.to.be.instanceOf(OutboundRefusedError);
      expect(silent.connections).to.equal(1);
    } finally {
      await silent.stop();
    }
  });
});
