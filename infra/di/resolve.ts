import type { interfaces } from 'inversify';

/**
 * What a module's factory needs, resolved from the container it is building (async: adapters connect when
 * first needed). `deps<[Config, Logger]>(ctx, TOKENS.Config, TOKENS.Logger)`.
 */
export function deps<T extends unknown[]>(ctx: interfaces.Context, ...tokens: { [K in keyof T]: symbol }): Promise<T> {
  return Promise.all(tokens.map((token) => ctx.container.getAsync(token))) as Promise<T>;
}

/** Every binding of a multi-bound token (routes, projections...), none when nothing bound it. */
export async function all<T>(ctx: interfaces.Context, token: symbol): Promise<T[]> {
  return ctx.container.isBound(token) ? ctx.container.getAllAsync<T>(token) : [];
}

/** The binding of a token some roles bind and others do not (e.g. suspensions where commands are served). */
export async function optional<T>(ctx: interfaces.Context, token: symbol): Promise<T | null> {
  return ctx.container.isBound(token) ? ctx.container.getAsync<T>(token) : null;
}
