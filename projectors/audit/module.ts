import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { auditLogProjection } from './audit-log-projection.ts';

/** The audit log: one row per event, who did what and when. */
export const auditProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => auditLogProjection);
});
