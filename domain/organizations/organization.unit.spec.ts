import { ConflictError, NotFoundError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { organizationDecider, type OrganizationCreated } from './organization.ts';

const spec = deciderSpec(organizationDecider);
const created: OrganizationCreated = {
  type: 'OrganizationCreated',
  version: 1,
  data: { organizationId: 'org-a', name: 'Acme', ownerUserId: 'u-1', timezone: 'UTC' },
};

describe('Organization decider', () => {
  it('creates an organization with its owner', () => {
    spec.given().when({ type: 'CreateOrganization', data: { ...created.data } }).then([created]);
  });

  it('refuses to create one that exists', () => {
    spec
      .given(created)
      .when({ type: 'CreateOrganization', data: { ...created.data } })
      .thenError(ConflictError, { code: 'organization_exists' });
  });

  it('renames, and records nothing for the same name', () => {
    spec
      .given(created)
      .when({ type: 'RenameOrganization', data: { organizationId: 'org-a', name: 'Acme Ltd' } })
      .then([{ type: 'OrganizationRenamed', version: 1, data: { organizationId: 'org-a', name: 'Acme Ltd' } }]);
    spec.given(created).when({ type: 'RenameOrganization', data: { organizationId: 'org-a', name: 'Acme' } }).thenNothing();
  });

  it('cannot rename a missing organization', () => {
    spec.given().when({ type: 'RenameOrganization', data: { organizationId: 'org-a', name: 'X' } }).thenError(NotFoundError);
  });
});
