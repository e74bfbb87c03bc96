import type Router from '@koa/router';

/** The part of @koa/router's layer that matching reads (`Layer` in its source). */
interface MatchableLayer {
  path: string | RegExp;
  methods: string[];
  match(path: string): boolean;
}

interface Matched {
  path: MatchableLayer[];
  pathAndMethod: MatchableLayer[];
  route: boolean;
}

/** A route's first path segment when it is plain text (no parameter, pattern or wildcard in it), lower-cased. */
function literalFirstSegment(path: string | RegExp): string | undefined {
  if (typeof path !== 'string') return undefined;
  const segment = /^\/([A-Za-z0-9._~-]+)(?=\/|$)/.exec(path)?.[1];
  return segment?.toLowerCase();
}

/** A request path's first segment, lower-cased (the router matches without regard to case by default). */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return (end === -1 ? path.slice(1) : path.slice(1, end)).toLowerCase();
}

/**
 * Makes the router try, for a request, only the routes that could match its path: those whose first segment is
 * the request's, and those whose first segment is not plain text. @koa/router tests every route's pattern in
 * turn (logging each test through `debug`, which allocates its arguments even when off): with the API's ~200
 * routes, a request paid ~200 pattern tests and ~10 KiB of garbage before its handler ran.
 *
 * The candidates keep the router's order and always include every route that can match (first segments are
 * compared lower-cased, a superset for a case-sensitive router too), so what matches, in what order, is
 * unchanged: each candidate still decides with its own pattern. Routes registered later are indexed at the
 * next request.
 */
export function indexBySegment(router: Router): Router {
  const stack = (router as unknown as { stack: MatchableLayer[] }).stack;
  let indexedLength = -1;
  let bySegment = new Map<string, MatchableLayer[]>();
  let anySegment: MatchableLayer[] = [];
  const reindex = () => {
    const keys = stack.map((layer) => literalFirstSegment(layer.path));
    // Every list first, so that a route of any first segment lands in each in the router's order.
    bySegment = new Map(keys.filter((key) => key !== undefined).map((key) => [key, []]));
    anySegment = [];
    stack.forEach((layer, i) => {
      const key = keys[i];
      if (key !== undefined) {
        bySegment.get(key)!.push(layer);
      } else {
        anySegment.push(layer);
        for (const list of bySegment.values()) list.push(layer);
      }
    });
    indexedLength = stack.length;
  };
  (router as unknown as { match(path: string, method: string): Matched }).match = (path, method) => {
    if (indexedLength !== stack.length) reindex();
    const candidates = bySegment.get(firstSegment(path)) ?? anySegment;
    const matched: Matched = { path: [], pathAndMethod: [], route: false };
    for (const layer of candidates) {
      if (!layer.match(path)) continue;
      matched.path.push(layer);
      if (layer.methods.length === 0 || layer.methods.includes(method)) {
        matched.pathAndMethod.push(layer);
        if (layer.methods.length > 0) matched.route = true;
      }
    }
    return matched;
  };
  return router;
}
