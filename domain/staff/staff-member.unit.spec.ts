import { expect } from 'chai';
import { ConflictError, ForbiddenError, NotAuthenticatedError, NotFoundError, RuleViolationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { staffMemberDecider, type StaffMemberCreated } from './staff-member.ts';
import { requireStaffPermission, staffMay } from './staff-permissions.ts';

const spec = deciderSpec(staffMemberDecider);
const created: StaffMemberCreated = {
  type: 'StaffMemberCreated',
  version: 1,
  data: { staffId: 's1', email: 'ops@nexusflow.test', name: 'Ops', role: 'support', passwordHash: 'scrypt$...' },
};

describe('Staff member decider', () => {
  it('creates a staff member once; a name is required', () => {
    spec.given().when({ type: 'CreateStaffMember', data: created.data }).then([created]);
    spec.given(created).when({ type: 'CreateStaffMember', data: created.data }).thenError(ConflictError, { code: 'staff_exists' });
    spec
      .given()
      .when({ type: 'CreateStaffMember', data: { ...created.data, name: ' ' } })
      .thenError(RuleViolationError, { field: 'name' });
  });

  it('turns two-factor sign-in on once, and disables a member once', () => {
    const enabled = { type: 'StaffTotpEnabled' as const, version: 1, data: { staffId: 's1', sealedSecret: 'sealed' } };
    spec.given(created).when({ type: 'EnableStaffTotp', data: enabled.data }).then([enabled]);
    spec.given(created, enabled).when({ type: 'EnableStaffTotp', data: enabled.data }).thenError(ConflictError, { code: 'totp_enabled' });
    expect(spec.given(created, enabled).state()).to.include({ sealedTotpSecret: 'sealed' });
    spec
      .given(created)
      .when({ type: 'DisableStaffMember', data: { staffId: 's1' } })
      .then([{ type: 'StaffMemberDisabled', version: 1, data: { staffId: 's1' } }]);
    spec
      .given()
      .when({ type: 'DisableStaffMember', data: { staffId: 's1' } })
      .thenError(NotFoundError);
  });

  it('records sign-ins; with two-factor on a code is required and each code works once; a disabled member cannot sign in', () => {
    const enabled = { type: 'StaffTotpEnabled' as const, version: 1, data: { staffId: 's1', sealedSecret: 'sealed' } };
    const signIn = (totpStep: number | null) => ({ type: 'RecordStaffSignIn' as const, data: { staffId: 's1', totpStep } });
    spec
      .given(created)
      .when(signIn(null))
      .then([{ type: 'StaffSignedIn', version: 1, data: { staffId: 's1', totpStep: null } }]);
    spec.given(created, enabled).when(signIn(null)).thenError(NotAuthenticatedError, { code: 'totp_required' });
    const used = { type: 'StaffSignedIn' as const, version: 1, data: { staffId: 's1', totpStep: 100 } };
    spec.given(created, enabled, used).when(signIn(100)).thenError(NotAuthenticatedError, { code: 'totp_replayed' });
    spec
      .given(created, enabled, used)
      .when(signIn(101))
      .then([{ ...used, data: { staffId: 's1', totpStep: 101 } }]);
    spec
      .given(created, { type: 'StaffMemberDisabled', version: 1, data: { staffId: 's1' } })
      .when(signIn(null))
      .thenError(NotAuthenticatedError, { code: 'staff_disabled' });
  });
});

describe('Staff permissions', () => {
  it('lets support read and help, and keeps money, suspension, the catalog and rebuilds to admins', () => {
    for (const allowed of ['console:read', 'tenants:extendTrial', 'tenants:impersonate', 'parkedEvents:retry'] as const) {
      expect(staffMay('support', allowed), allowed).to.equal(true);
    }
    for (const refused of ['tenants:suspend', 'tenants:changePlan', 'plans:manage', 'projections:rebuild', 'staff:read'] as const) {
      expect(staffMay('support', refused), refused).to.equal(false);
      expect(staffMay('admin', refused), refused).to.equal(true);
    }
    expect(() => requireStaffPermission('support', 'tenants:suspend')).to.throw(ForbiddenError);
  });
});
