import type { ResourceWithOptions } from 'adminjs';
import { billingResource, type BillingResourceDeps } from './billing.ts';
import { executionsResource } from './executions.ts';
import { historyResource } from './history.ts';
import { integrationsResource } from './integrations.ts';
import { organizationsResource } from './organizations.ts';
import { parkedEventsResource } from './parked-events.ts';
import { plansResource } from './plans.ts';
import { projectionsResource } from './projections.ts';
import { staffResource } from './staff.ts';
import { usersResource } from './users.ts';
import { workflowsResource } from './workflows.ts';

export type { ConsoleResourceDeps } from './console-actions.ts';
export type { BillingResourceDeps, StaffBilling } from './billing.ts';

/** The console's resources, in the order of its sidebar: one file each in this folder. */
export function consoleResources(deps: BillingResourceDeps): ResourceWithOptions[] {
  return [
    organizationsResource(deps),
    usersResource(deps),
    integrationsResource(deps),
    billingResource(deps),
    plansResource(deps),
    workflowsResource(deps),
    executionsResource(deps),
    parkedEventsResource(deps),
    projectionsResource(deps),
    staffResource(deps),
    historyResource(deps),
  ];
}
