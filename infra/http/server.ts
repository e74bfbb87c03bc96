import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import type { Logger } from 'pino';

export interface HttpServer {
  readonly port: number;
  /** Stops accepting connections, lets requests in flight finish, closes idle keep-alive sockets. */
  close(): Promise<void>;
}

export async function listen(app: Koa, options: { host: string; port: number; logger: Logger }): Promise<HttpServer> {
  const server = http.createServer(app.callback());
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
