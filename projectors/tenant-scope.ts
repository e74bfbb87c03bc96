/**
 * Every tenant-owned read model carries this filter, switched on by default. A query made through an
 * EntityManager that was not given the caller's organization fails ("No arguments provided for filter
 * 'tenant'") instead of returning everyone's rows: a new route cannot forget the scope. The query API sets
 * it once per request; projectors, which work across tenants, turn filters off explicitly.
 */
export const TENANT_FILTER = 'tenant';

export interface TenantFilterArgs {
  organizationId: string;
}

export function tenantFilter(column: 'organizationId' | 'id' = 'organizationId') {
  return {
    [TENANT_FILTER]: {
      name: TENANT_FILTER,
      default: true,
      cond: (args: TenantFilterArgs) => ({ [column]: args.organizationId }),
    },
  };
}
