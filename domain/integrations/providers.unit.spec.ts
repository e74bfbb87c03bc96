import { expect } from 'chai';
import { configuredProviders, isProviderId, providerBaseUrl, providerIds, providers } from './providers.ts';

describe('CRM provider catalogue', () => {
  it('lists the four providers, Zoho CRM as beta, PKCE for Salesforce only', () => {
    expect(providerIds).to.deep.equal(['salesforce', 'hubspot', 'pipedrive', 'zoho']);
    expect(providerIds.filter((id) => providers[id].beta)).to.deep.equal(['zoho']);
    expect(providerIds.filter((id) => providers[id].pkce)).to.deep.equal(['salesforce']);
    expect(providerIds.filter((id) => providers[id].instanceUrl === 'none')).to.deep.equal(['hubspot']);
    for (const id of providerIds) expect(providers[id].id).to.equal(id);
  });

  it('names the OAuth app variables and falls back to the default base URL', () => {
    expect(providers.salesforce.env).to.deep.equal({
      clientId: 'SALESFORCE_CLIENT_ID',
      clientSecret: 'SALESFORCE_CLIENT_SECRET',
      baseUrl: 'SALESFORCE_LOGIN_URL',
    });
    expect(providerBaseUrl('salesforce', {})).to.equal('https://login.salesforce.com');
    expect(providerBaseUrl('hubspot', { HUBSPOT_API_URL: ' ' })).to.equal('https://api.hubapi.com');
    expect(providerBaseUrl('pipedrive', {})).to.equal('https://api.pipedrive.com');
    expect(providerBaseUrl('zoho', { ZOHO_API_URL: 'https://www.zohoapis.eu/' })).to.equal('https://www.zohoapis.eu');
    expect(providerBaseUrl('salesforce', { SALESFORCE_LOGIN_URL: 'https://test.salesforce.com' })).to.equal('https://test.salesforce.com');
  });

  it('offers only providers with both id and secret, and names a half configuration', () => {
    const env = { HUBSPOT_CLIENT_ID: 'id', HUBSPOT_CLIENT_SECRET: 'secret', ZOHO_CLIENT_ID: 'id', PIPEDRIVE_CLIENT_SECRET: '' };
    expect(configuredProviders(env)).to.deep.equal({ ready: ['hubspot'], missing: [{ provider: 'zoho', variable: 'ZOHO_CLIENT_SECRET' }] });
  });

  it('recognises provider ids', () => {
    expect(isProviderId('pipedrive')).to.equal(true);
    expect(isProviderId('dynamics')).to.equal(false);
    expect(isProviderId('toString')).to.equal(false);
  });
});
