import { ContainerModule } from 'inversify';
import { projectionModules } from './projection-modules.ts';
import { aiServicesModule } from '../command-api/ai/module.ts';
import { billingServicesModule, quotaModule } from '../command-api/billing/module.ts';
import { contactServicesModule } from '../command-api/contacts/module.ts';
import { organizationServicesModule } from '../command-api/organizations/module.ts';
import { commandCoreModule } from '../command-api/module.ts';
import { executionStarterModule } from '../command-api/workflows/module.ts';
import { accessModule } from '../infra/auth/module.ts';
import { TOKENS } from '../infra/di/tokens.ts';
import { embedderModule } from './ai/module.ts';
import { billingWorkerModule } from './billing/module.ts';
import { quotaCounterModule } from './billing/quota-module.ts';
import { usageReporterModule } from './billing/usage-reporter-module.ts';
import { crmSyncWorkerModule } from './integrations/sync/module.ts';
import { PROJECTORS, projectorCoreModule } from './module.ts';

/** Running them: the projections and reactors, the workflow runner and the scheduler. */
const runProjectorsModule = new ContainerModule((bind) => {
  bind(TOKENS.Services).toService(PROJECTORS);
  bind(TOKENS.Services).toService(TOKENS.WorkflowRunner);
  bind(TOKENS.Services).toService(TOKENS.Scheduler);
  bind(TOKENS.Services).toService(TOKENS.SyncRunner);
  bind(TOKENS.Services).toService(TOKENS.BillingWorker);
  bind(TOKENS.Services).toService(TOKENS.QuotaCounter);
  bind(TOKENS.Services).toService(TOKENS.UsageReporter);
  bind(TOKENS.Services).toService(TOKENS.Embedder);
});

/** The projectors: every read model, every reactor, the workflow runner and scheduler (they act through commands). */
export const projectorModules = [
  accessModule,
  commandCoreModule,
  organizationServicesModule,
  quotaModule,
  aiServicesModule,
  billingServicesModule,
  contactServicesModule,
  executionStarterModule,
  projectorCoreModule,
  ...projectionModules,
  crmSyncWorkerModule,
  billingWorkerModule,
  quotaCounterModule,
  usageReporterModule,
  embedderModule,
  runProjectorsModule,
];

export { projectionModules };
