import { billingServicesModule } from '../command-api/billing/module.ts';
import { commandCoreModule } from '../command-api/module.ts';
import { operationsCommandsModule } from '../command-api/operations/module.ts';
import { organizationServicesModule } from '../command-api/organizations/module.ts';
import { planCommandsModule } from '../command-api/plans/module.ts';
import { staffAccountsModule, staffConsoleCommandsModule } from '../command-api/staff/module.ts';
import { accessModule } from '../infra/auth/module.ts';
import { projectionModules } from '../projectors/projection-modules.ts';
import { readModelOperationsModule } from '../projectors/rebuild/module.ts';
import { adminConsoleModule } from './console/module.ts';

/** The staff console and what its staff commands act through. */
export const adminModules = [
  accessModule,
  commandCoreModule,
  organizationServicesModule,
  billingServicesModule,
  planCommandsModule,
  operationsCommandsModule,
  readModelOperationsModule,
  staffAccountsModule,
  staffConsoleCommandsModule,
  ...projectionModules,
  adminConsoleModule,
];
