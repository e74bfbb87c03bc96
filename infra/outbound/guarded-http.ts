import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { AddressPolicy } from './address-policy.ts';

/**
 * The one way to send an HTTP request to a target a tenant chose: a workflow's `http_request` step today;
 * CRM instance URLs, outgoing webhooks and AI base URLs a tenant configures later. It never connects to an
 * address the {@link AddressPolicy} refuses (loopback, private, link-local, metadata, … unless the
 * operator's OUTBOUND_ALLOW_CIDRS opens it):
 *
 * - an IP-literal host is checked before anything else (the WHATWG URL parser has already turned 127.1,
 *   2130706433 and 0x7f000001 into 127.0.0.1);
 * - a name is resolved by the client itself (the `connect.lookup` of its undici Agent), EVERY address it
 *   resolves to is checked (one refused address refuses the request), and only those vetted addresses are
 *   handed to the socket: no second resolution, no DNS rebinding between the check and the connect;
 * - once connected, the socket's remote address is checked again (a backstop: it is always a vetted one).
 *
 * A refused target fails with {@link OutboundRefusedError} and no connection is attempted. Only http and
 * https, no credentials in the URL, no proxy (environment proxy settings are ignored), redirects are not
 * followed (a 3xx comes back as is, its `location` header for the caller to judge), and the answer's body is
 * read up to `maxResponseBytes` (then the connection is dropped and `truncated` says so).
 *
 * Endpoints the operator configures in the environment (a provider's base URL, ELASTICSEARCH_URL, …) are
 * trusted as configured and do not go through this client.
 */

export interface OutboundRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Deadline for the whole exchange: connecting, sending, and reading the answer. */
  timeoutMs: number;
  /** The body is read up to this many bytes; the rest is not read. */
  maxResponseBytes: number;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** The answer's body was longer than maxResponseBytes. */
  truncated: boolean;
}

/** Resolves a name to every address it has (like dns.lookup with `all: true`). */
export type Resolve = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface GuardedHttpOptions {
  policy: AddressPolicy;
  /** Name resolution; default dns.lookup (all addresses). Tests pass their own. */
  lookup?: Resolve;
  userAgent?: string;
}

/**
 * The target is one the outbound policy refuses: nothing was sent, and no connection was attempted (the one
 * exception, the post-connect backstop, closes the socket before the request is sent; it never fires for
 * addresses the client vetted itself).
 */
export class OutboundRefusedError extends Error {
  readonly code = 'outbound_refused';
  constructor(
    message: string,
    /** The host of the URL, as written after URL parsing. */
    readonly target: string,
    /** The address refused (null when the URL itself was refused). */
    readonly address: string | null,
  ) {
    super(message);
    this.name = 'OutboundRefusedError';
  }

  /** "refused: 127.0.0.1 is a loopback address", "refused: localhost resolves to 127.0.0.1, a loopback address". */
  static forAddress(target: string, address: string, reason: string, how: 'is' | 'resolves to' | 'connected to' = 'is'): OutboundRefusedError {
    const carries = reason.startsWith('carries ');
    const message =
      how === 'is'
        ? `refused: ${address} ${carries ? reason : `is ${reason}`}`
        : `refused: ${target} ${how} ${address}, ${carries ? `which ${reason}` : reason}`;
    return new OutboundRefusedError(message, target, address);
  }
}

const defaultResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Connection setup (including name resolution) never takes longer than this, whatever the request's deadline. */
const CONNECT_TIMEOUT_MS = 30_000;

export class GuardedHttpClient {
  private readonly policy: AddressPolicy;
  private readonly resolve: Resolve;
  private readonly userAgent: string | undefined;
  private readonly agent: Agent;

  constructor(options: GuardedHttpOptions) {
    this.policy = options.policy;
    this.resolve = options.lookup ?? defaultResolve;
    this.userAgent = options.userAgent;
    const connect = buildConnector({
      timeout: CONNECT_TIMEOUT_MS,
      lookup: (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback) => this.vettedLookup(hostname, lookupOptions, callback),
    });
    this.agent = new Agent({
      connect: (connectOptions, callback) => {
        const host = unbracket(connectOptions.hostname);
        // Node's net does not look IP literals up: they are checked here, before any socket exists.
        if (isIP(host) !== 0) {
          const verdict = this.policy.check(host);
          if (!verdict.allowed) return callback(OutboundRefusedError.forAddress(host, host, verdict.reason), null);
        }
        connect(connectOptions, (err, socket) => {
          if (err) return callback(err, null);
          const connected = (socket as Socket).remoteAddress;
          const verdict = connected ? this.policy.check(connected) : ({ allowed: false, reason: 'not checkable' } as const);
          if (!verdict.allowed) {
            socket!.destroy();
            return callback(OutboundRefusedError.forAddress(host, connected ?? 'an unknown address', verdict.reason, 'connected to'), null);
          }
          callback(null, socket!);
        });
      },
    });
  }

  async request(request: OutboundRequest): Promise<OutboundResponse> {
    const url = this.target(request.url);
    const host = unbracket(url.hostname);
    if (isIP(host) !== 0) {
      const verdict = this.policy.check(host);
      if (!verdict.allowed) throw OutboundRefusedError.forAddress(host, host, verdict.reason);
    }
    const signal = AbortSignal.timeout(request.timeoutMs);
    const response = await this.agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method.toUpperCase() as 'GET',
      headers: { ...(this.userAgent ? { 'user-agent': this.userAgent } : {}), ...request.headers },
      body: request.body ?? null,
      signal,
      headersTimeout: request.timeoutMs,
      bodyTimeout: request.timeoutMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      const room = request.maxResponseBytes - size;
      if (chunk.length > room) {
        if (room > 0) chunks.push(chunk.subarray(0, room));
        size += Math.max(room, 0);
        truncated = true;
        break; // leaving the loop destroys the body: the rest is never read
      }
      chunks.push(chunk);
      size += chunk.length;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = value;
    return { status: response.statusCode, headers, body: Buffer.concat(chunks, size), truncated };
  }

  /**
   * WHATWG fetch through this client's vetted connections, for client libraries that take a `fetch`: the same
   * policy as {@link request}, redirects never followed (a 3xx comes back as is). No size bound: the caller
   * reads the body (provider APIs whose host came from a token answer, not from a tenant's free text).
   */
  readonly fetch = (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const url = this.target(String(input));
    const host = unbracket(url.hostname);
    if (isIP(host) !== 0) {
      const verdict = this.policy.check(host);
      if (!verdict.allowed) return Promise.reject(OutboundRefusedError.forAddress(host, host, verdict.reason));
    }
    return undiciFetch(url, { ...(init as object), redirect: 'manual', dispatcher: this.agent } as never) as unknown as Promise<Response>;
  };

  /**
   * Node `http.Agent`s (plain and TLS) whose every connection goes through the same checks, for client
   * libraries built on node's http module (node-fetch and the like): names resolved and vetted by this
   * client, IP literals checked before a socket exists, the connected address checked again.
   */
  nodeAgents(options: AgentOptions = { keepAlive: true }): { http: HttpAgent; https: HttpsAgent } {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const client = this;
    const lookup = (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback) =>
      client.vettedLookup(hostname, lookupOptions, callback);
    const guard = <T extends HttpAgent>(agent: T): T => {
      const create = (agent as unknown as { createConnection: (o: Record<string, unknown>, cb?: unknown) => Socket }).createConnection.bind(agent);
      (agent as unknown as { createConnection: unknown }).createConnection = (connectOptions: Record<string, unknown>, callback?: unknown) => {
        const host = unbracket(String(connectOptions.host ?? connectOptions.hostname ?? ''));
        if (isIP(host) !== 0) {
          const verdict = client.policy.check(host);
          if (!verdict.allowed) throw OutboundRefusedError.forAddress(host, host, verdict.reason);
        }
        const socket = create({ ...connectOptions, lookup }, callback);
        socket.once('connect', () => {
          const connected = socket.remoteAddress;
          const verdict = connected ? client.policy.check(connected) : ({ allowed: false, reason: 'not checkable' } as const);
          if (!verdict.allowed)
            socket.destroy(OutboundRefusedError.forAddress(host, connected ?? 'an unknown address', verdict.reason, 'connected to'));
        });
        return socket;
      };
      return agent;
    };
    return { http: guard(new HttpAgent(options)), https: guard(new HttpsAgent(options)) };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** The request's URL, if it is one this client may send to at all. */
  private target(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new OutboundRefusedError('refused: not a valid URL', '', null);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new OutboundRefusedError(`refused: ${url.protocol} URLs are not allowed (only http and https)`, url.hostname, null);
    if (url.username !== '' || url.password !== '')
      throw new OutboundRefusedError('refused: a URL with credentials (send them in a header instead)', url.hostname, null);
    return url;
  }

  /**
   * The socket's name resolution: every address of the name must pass the policy, and only those addresses
   * are given to the socket (the one it connects to is one that was checked).
   */
  private vettedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
    this.resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        for (const { address } of addresses) {
          const verdict = this.policy.check(address);
          if (!verdict.allowed) return callback(OutboundRefusedError.forAddress(hostname, verdict.address, verdict.reason, 'resolves to'), '');
        }
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = addresses.filter((a) => !family || a.family === family).map(({ address, family }) => ({ address, family }));
        if (usable.length === 0) return callback(Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        if (options.all) return callback(null, usable);
        callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, ''),
    );
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
