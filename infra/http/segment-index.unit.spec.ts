import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { expect } from 'chai';
import Koa from 'koa';
import { indexBySegment } from './segment-index.ts';

/** The same routes on a plain router and on an indexed one: each answers with the route that handled it. */
function routes(router: Router): Router {
  const answer = (name: string) => (ctx: Koa.Context) => {
    ctx.body = { route: name, params: ctx.params };
  };
  router.use(async (ctx, next) => {
    ctx.set('x-through', 'router-middleware');
    await next();
  });
  router.get('/contacts', answer('list contacts'));
  router.post('/contacts', answer('create contact'));
  router.get('/contacts/search', answer('search contacts'));
  router.get('/contacts/:id', answer('get contact'));
  router.patch('/contacts/:id', answer('update contact'));
  router.get('/:kind/summary', answer('summary of any kind'));
  router.get('/workflows/:id/runs', answer('workflow runs'));
  router.post('/workflows\\:import', answer('import workflows'));
  router.get(/^\/legacy\/(\d+)$/, answer('legacy pattern'));
  router.get('/Reports/Weekly', answer('weekly report'));
  router.all('/webhooks/:provider', answer('webhook'));
  router.get('/', answer('root'));
  return router;
}

async function serve(router: Router): Promise<{ server: Server; origin: string }> {
  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('Routes indexed by their first path segment', () => {
  let plain: { server: Server; origin: string };
  let indexed: { server: Server; origin: string };
  let late: Router;

  before(async () => {
    plain = await serve(routes(new Router()));
    late = indexBySegment(routes(new Router()));
    indexed = await serve(late);
  });
  after(() => {
    plain.server.close();
    indexed.server.close();
  });

  const requests: [string, string][] = [
    ['GET', '/contacts'],
    ['GET', '/contacts/'],
    ['GET', '/CONTACTS/Search'],
    ['POST', '/contacts'],
    ['DELETE', '/contacts'],
    ['GET', '/contacts/42'],
    ['PATCH', '/contacts/42'],
    ['PUT', '/contacts/42'],
    ['GET', '/contacts/summary'],
    ['GET', '/deals/summary'],
    ['GET', '/workflows/7/runs'],
    ['GET', '/workflows/7/summary'],
    ['POST', '/workflows:import'],
    ['GET', '/legacy/12'],
    ['GET', '/legacy/x'],
    ['GET', '/reports/weekly'],
    ['POST', '/webhooks/stripe'],
    ['GET', '/'],
    ['GET', '/nowhere'],
    ['GET', '//contacts'],
    ['OPTIONS', '/contacts/42'],
  ];

  for (const [method, path] of requests) {
    it(`answers ${method} ${path} as the plain router does`, async () => {
      const [a, b] = await Promise.all(
        [plain, indexed].map(async ({ origin }) => {
          const response = await fetch(origin + path, { method });
          return {
            status: response.status,
            allow: response.headers.get('allow'),
            through: response.headers.get('x-through'),
            body: await response.text(),
          };
        }),
      );
      expect(b).to.deep.equal(a);
    });
  }

  it('takes a route registered after the first request', async () => {
    expect((await fetch(`${indexed.origin}/contacts/export`)).status).to.equal(200); // matched as /contacts/:id
    late.get('/contacts/export', (ctx) => {
      ctx.body = { route: 'export contacts' };
    });
    late.get('/exports', (ctx) => {
      ctx.body = { route: 'exports' };
    });
    // The earlier :id route still comes first, as on a plain router; the new first segment is found.
    expect(await (await fetch(`${indexed.origin}/contacts/export`)).json()).to.deep.include({ route: 'get contact' });
    expect(await (await fetch(`${indexed.origin}/exports`)).json()).to.deep.equal({ route: 'exports' });
  });
});
