import { expect } from 'chai';
import { allPermissions, apiKeyScopes, isWrite, permissionsOf, roleGrants, roles } from './permissions.ts';
import { holds } from './principal.ts';

describe('Permission table', () => {
  it('lets viewers read everything but write nothing', () => {
    for (const permission of allPermissions) {
      if (permission.endsWith(':read'))
        expect(roleGrants('viewer', permission), permission).to.equal(
          !['apiKeys:read', 'billing:read', 'audit:read', 'integrations:read'].includes(permission),
        );
      else if (isWrite(permission)) expect(roleGrants('viewer', permission), permission).to.equal(false);
    }
  });

  it('keeps billing and roles to owners', () => {
    for (const role of roles) {
      expect(roleGrants(role, 'billing:manage'), role).to.equal(role === 'owner');
      expect(roleGrants(role, 'roles:manage'), role).to.equal(role === 'owner');
    }
  });

  it('ranks roles: each grants everything the one below does', () => {
    for (let i = 1; i < roles.length; i++) {
      const lower = permissionsOf(roles[i]!);
      expect(permissionsOf(roles[i - 1]!)).to.include.members(lower);
    }
  });

  it('never lets an API key act as a user account', () => {
    expect(apiKeyScopes).not.to.include('account:self');
    expect(holds({ kind: 'apiKey', keyId: 'k', organizationId: 'o', scopes: ['contacts:read'] }, 'contacts:read')).to.equal(true);
    expect(holds({ kind: 'apiKey', keyId: 'k', organizationId: 'o', scopes: ['contacts:read'] }, 'contacts:write')).to.equal(false);
  });
});
