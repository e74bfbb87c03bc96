import { ContainerModule } from 'inversify';
import { bindProjection } from '../module.ts';
import { billingProjection } from './billing-projection.ts';

/** Billing accounts (subscription, scheduled change, standing) and invoices. */
export const billingProjectionsModule = new ContainerModule((bind) => {
  bindProjection(bind, () => billingProjection);
});
