import type { MikroORM, EntityManager } from '@mikro-orm/postgresql';
import type Koa from 'koa';
import { authOf } from '../infra/http/authenticate.ts';
import { TENANT_FILTER } from '../projectors/tenant-scope.ts';

/**
 * The one way query routes reach the read models: an EntityManager for this request, scoped to the
 * caller's organization. (Read models carry a default tenant filter that fails without this scope.)
 */
export function scopedEntityManager(orm: MikroORM, ctx: Koa.Context): EntityManager {
  const em = orm.em.fork();
  em.setFilterParams(TENANT_FILTER, { organizationId: authOf(ctx).organizationId });
  return em;
}
