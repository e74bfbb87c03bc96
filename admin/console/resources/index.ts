import type { ResourceWithOptions } from 'adminjs';
import type { ConsoleResourceDeps } from './console-actions.ts';
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

/** The console's resources, in the order of its sidebar: one file each in this folder. */
export function consoleResources(deps: ConsoleResourceDeps): ResourceWithOptions[] {
  return [
    organizationsResource(deps),
    usersResource(deps),
    integrationsResource(deps),
    plansResource(deps),
    workflowsResource(deps),
    executionsResource(deps),
    parkedEventsResource(deps),
    projectionsResource(deps),
    staffResource(deps),
    historyResource(deps),
  ];
}
