import type { ContainerModule } from 'inversify';
import { aiProjectionsModule } from './ai/projections-module.ts';
import { analyticsProjectorsModule } from './analytics/module.ts';
import { apiKeyProjectionsModule } from './api-keys/module.ts';
import { auditProjectionsModule } from './audit/module.ts';
import { billingProjectionsModule } from './billing/module.ts';
import { contactProjectionsModule } from './contacts/module.ts';
import { integrationEventsModule } from './integration-events/module.ts';
import { integrationProjectionsModule } from './integrations/module.ts';
import { crmSyncProjectionModule } from './integrations/sync/module.ts';
import { organizationProjectionsModule } from './organizations/module.ts';
import { planProjectionsModule } from './plans/module.ts';
import { searchProjectorsModule } from './search/module.ts';
import { staffProjectionsModule } from './staff/module.ts';
import { userProjectionsModule } from './users/module.ts';
import { workflowProjectorsModule } from './workflows/module.ts';

/** What every capability projects: read models, reactors and rebuildable read models (declared, not run). */
export const projectionModules: ContainerModule[] = [
  contactProjectionsModule,
  organizationProjectionsModule,
  userProjectionsModule,
  apiKeyProjectionsModule,
  workflowProjectorsModule,
  planProjectionsModule,
  staffProjectionsModule,
  auditProjectionsModule,
  searchProjectorsModule,
  analyticsProjectorsModule,
  integrationEventsModule,
  integrationProjectionsModule,
  crmSyncProjectionModule,
  billingProjectionsModule,
  aiProjectionsModule,
];
