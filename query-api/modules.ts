import { accessModule } from '../infra/auth/module.ts';
import { analyticsQueriesModule } from './analytics/module.ts';
import { apiKeyQueriesModule } from './api-keys/module.ts';
import { auditQueriesModule } from './audit/module.ts';
import { authQueriesModule } from './auth/module.ts';
import { billingQueriesModule } from './billing/module.ts';
import { contactQueriesModule } from './contacts/module.ts';
import { integrationQueriesModule } from './integrations/module.ts';
import { queryCoreModule } from './module.ts';
import { organizationQueriesModule } from './organizations/module.ts';
import { searchQueriesModule } from './search/module.ts';
import { userQueriesModule } from './users/module.ts';
import { workflowQueriesModule } from './workflows/module.ts';

/** The query API: every capability's queries over the read models, search and analytics. */
export const queryApiModules = [
  accessModule,
  queryCoreModule,
  authQueriesModule,
  organizationQueriesModule,
  userQueriesModule,
  apiKeyQueriesModule,
  contactQueriesModule,
  workflowQueriesModule,
  searchQueriesModule,
  analyticsQueriesModule,
  auditQueriesModule,
  integrationQueriesModule,
  billingQueriesModule,
];
