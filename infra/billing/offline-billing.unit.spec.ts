import { expect } from 'chai';
import { BillingOffline } from '../../command-api/billing/ports.ts';
import { OfflineBilling } from './offline-billing.ts';

describe('Offline billing (no Stripe key)', () => {
  it('says it is offline and refuses anything that would reach Stripe, naming the settings that turn billing on', async () => {
    const billing = new OfflineBilling();
    expect(billing.mode).to.equal('offline');
    const error = await billing.createSetupIntent().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(BillingOffline).with.property('missing').that.deep.equals(['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET']);
    expect((error as Error).message).to.match(/nothing is charged/);
    expect(() => billing.verifyWebhook()).to.throw(BillingOffline);
  });
});
