import { aiRoutesModule, aiServicesModule } from './ai/module.ts';
import { apiKeyCommandsModule } from './api-keys/module.ts';
import { authRoutesModule, authServicesModule } from './auth/module.ts';
import { billingRoutesModule, billingServicesModule, quotaModule } from './billing/module.ts';
import { contactRoutesModule, contactServicesModule } from './contacts/module.ts';
import { integrationRoutesModule, integrationServicesModule } from './integrations/module.ts';
import { commandCoreModule } from './module.ts';
import { organizationRoutesModule, organizationServicesModule } from './organizations/module.ts';
import { userCommandsModule } from './users/module.ts';
import { executionStarterModule, workflowCommandsModule } from './workflows/module.ts';
import { accessModule } from '../infra/auth/module.ts';

/** The command API: every capability's commands and routes. */
export const commandApiModules = [
  accessModule,
  commandCoreModule,
  authServicesModule,
  authRoutesModule,
  organizationServicesModule,
  organizationRoutesModule,
  quotaModule,
  userCommandsModule,
  apiKeyCommandsModule,
  contactServicesModule,
  contactRoutesModule,
  executionStarterModule,
  workflowCommandsModule,
  integrationServicesModule,
  integrationRoutesModule,
  billingServicesModule,
  billingRoutesModule,
  aiServicesModule,
  aiRoutesModule,
];
