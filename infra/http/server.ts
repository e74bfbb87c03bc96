import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';

export interface HttpServer {
  readonly port: number;
  /** Stops accepting connections, lets requests in flight finish, closes idle keep-alive sockets. */
  close(): Promise<void>;
}

/** Another app served under a path prefix on the same port (the staff console under /admin). */
export interface MountedApp {
  prefix: string;
  app: Koa;
}

export async function listen(app: Koa, options: { host: string; port: number; logger: Logger; mounts?: MountedApp[] }): Promise<HttpServer> {
  const main = app.callback();
  const mounts = (options.mounts ?? []).map((mount) => ({ prefix: mount.prefix, handle: mount.app.callback() }));
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    const mount = mounts.find(({ prefix }) => url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`));
    return (mount ? mount.handle : main)(request, response);
  });
  server.keepAliveTimeout = 65_000; // longer than common load-balancer idle timeouts
  server.headersTimeout = 66_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ host: options.host, port }, 'listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
