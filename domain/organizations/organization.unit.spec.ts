import { expect } from 'chai';
import { ConflictError, ForbiddenError, NotAuthenticatedError, NotFoundError, RuleViolationError } from '../errors.ts';
import { deciderSpec } from '../../test/support/decider-spec.ts';
import { organizationDecider, type MemberInvited, type OrganizationCreated, type OrganizationEvent } from './organization.ts';

const spec = deciderSpec(organizationDecider);
const org = 'org-a';
const created: OrganizationCreated = {
  type: 'OrganizationCreated',
  version: 2,
  data: { organizationId: org, name: 'Acme', ownerUserId: 'owner-1', timezone: 'UTC', ownerEmail: 'owner@acme.test', trialEndsAt: null },
};
const invited = (
  invitationId: string,
  email: string,
  role: MemberInvited['data']['role'],
  expiresAt = '2026-12-08T00:00:00.000Z',
): MemberInvited => ({
  type: 'MemberInvited',
  version: 1,
  data: {
    organizationId: org,
    invitationId,
    email,
    role,
    userId: `user-of-${invitationId}`,
    secretHash: `hash-${invitationId}`,
    expiresAt,
    invitedBy: 'owner-1',
  },
});
const joined = (invitationId: string, email: string, role: MemberInvited['data']['role']): OrganizationEvent => ({
  type: 'MemberJoined',
  version: 1,
  data: { organizationId: org, invitationId, userId: `user-of-${invitationId}`, email, role },
});
const now = '2026-12-01T12:00:00.000Z';
const invite = (email: string, role: MemberInvited['data']['role'], byRole: 'owner' | 'admin' | 'member' | 'viewer' = 'owner') => ({
  type: 'InviteMember' as const,
  data: { ...invited('i-new', email, role).data, byRole, now },
});

describe('Organization decider', () => {
  describe('When absent', () => {
    it('creates an organization, its owner its first member', () => {
      spec
        .given()
        .when({ type: 'CreateOrganization', data: { ...created.data } })
        .then([created]);
      const state = spec.given(created).state();
      if (state.status === 'absent') throw new Error('expected an organization');
      spec
        .given(created)
        .when({ type: 'CreateOrganization', data: { ...created.data } })
        .thenError(ConflictError, { code: 'organization_exists' });
    });

    it('cannot rename, invite, suspend or change the AI setting of a missing organization', () => {
      spec
        .given()
        .when({ type: 'RenameOrganization', data: { organizationId: org, name: 'X' } })
        .thenError(NotFoundError);
      spec.given().when(invite('ada@acme.test', 'member')).thenError(NotFoundError);
      spec
        .given()
        .when({ type: 'SuspendOrganization', data: { organizationId: org, reason: 'x' } })
        .thenError(NotFoundError);
      spec
        .given()
        .when({ type: 'ChangeAiSettings', data: { organizationId: org, enabled: false } })
        .thenError(NotFoundError);
      spec
        .given(created)
        .when({ type: 'ChangeAiSettings', data: { organizationId: 'org-b', enabled: false } })
        .thenError(NotFoundError);
    });
  });

  describe('When created', () => {
    it('renames, and records nothing for the same name', () => {
      spec
        .given(created)
        .when({ type: 'RenameOrganization', data: { organizationId: org, name: 'Acme Ltd' } })
        .then([{ type: 'OrganizationRenamed', version: 1, data: { organizationId: org, name: 'Acme Ltd' } }]);
      spec
        .given(created)
        .when({ type: 'RenameOrganization', data: { organizationId: org, name: 'Acme' } })
        .thenNothing();
    });

    it('has the AI service on; turns it off and on again, and records nothing for what is already so', () => {
      const ai = (enabled: boolean) => ({ type: 'ChangeAiSettings' as const, data: { organizationId: org, enabled } });
      const turned = (enabled: boolean): OrganizationEvent => ({ type: 'AiSettingsChanged', version: 1, data: { organizationId: org, enabled } });
      expect(spec.given(created).state()).to.include({ aiEnabled: true });
      spec.given(created).when(ai(true)).thenNothing();
      spec
        .given(created)
        .when(ai(false))
        .then([turned(false)]);
      expect(spec.given(created, turned(false)).state()).to.include({ aiEnabled: false });
      spec.given(created, turned(false)).when(ai(false)).thenNothing();
      spec
        .given(created, turned(false))
        .when(ai(true))
        .then([turned(true)]);
      expect(spec.given(created, turned(false), turned(true)).state()).to.include({ aiEnabled: true });
      // Renames, plan changes and trials leave it as it is.
      expect(
        spec.given(created, turned(false), { type: 'OrganizationRenamed', version: 1, data: { organizationId: org, name: 'Acme Ltd' } }).state(),
      ).to.include({ aiEnabled: false, name: 'Acme Ltd' });
    });

    it('changes the AI setting of a suspended organization as it renames one (the edge refuses its writes, not the decider)', () => {
      const suspended: OrganizationEvent = { type: 'OrganizationSuspended', version: 1, data: { organizationId: org, reason: 'unpaid' } };
      spec
        .given(created, suspended)
        .when({ type: 'RenameOrganization', data: { organizationId: org, name: 'Acme Ltd' } })
        .then([{ type: 'OrganizationRenamed', version: 1, data: { organizationId: org, name: 'Acme Ltd' } }]);
      spec
        .given(created, suspended)
        .when({ type: 'ChangeAiSettings', data: { organizationId: org, enabled: false } })
        .then([{ type: 'AiSettingsChanged', version: 1, data: { organizationId: org, enabled: false } }]);
      expect(
        spec.given(created, suspended, { type: 'AiSettingsChanged', version: 1, data: { organizationId: org, enabled: false } }).state(),
      ).to.include({ status: 'suspended', aiEnabled: false });
    });

    it('invites; an admin may invite members and viewers but not admins or owners', () => {
      spec
        .given(created)
        .when(invite('ada@acme.test', 'owner'))
        .then([invited('i-new', 'ada@acme.test', 'owner')]);
      spec
        .given(created)
        .when(invite('ada@acme.test', 'member', 'admin'))
        .then([invited('i-new', 'ada@acme.test', 'member')]);
      spec
        .given(created)
        .when(invite('ada@acme.test', 'admin', 'admin'))
        .thenError(ForbiddenError, { code: 'insufficient_role', field: 'role' });
      spec
        .given(created)
        .when(invite('ada@acme.test', 'owner', 'admin'))
        .thenError(ForbiddenError);
    });

    it('refuses to invite a member again, or an email with a pending invitation; an expired one can be replaced', () => {
      spec.given(created).when(invite('owner@acme.test', 'member')).thenError(ConflictError, { code: 'already_member', field: 'email' });
      spec
        .given(created, invited('i-1', 'ada@acme.test', 'member'))
        .when(invite('ada@acme.test', 'viewer'))
        .thenError(ConflictError, { code: 'already_invited' });
      spec
        .given(created, invited('i-1', 'ada@acme.test', 'member', '2026-12-01T00:00:00.000Z'))
        .when(invite('ada@acme.test', 'viewer'))
        .then([invited('i-new', 'ada@acme.test', 'viewer')]);
    });

    it('accepts an invitation once, with the right secret, before it expires', () => {
      const accept = (secretHash: string, at = now) => ({
        type: 'AcceptInvitation' as const,
        data: { organizationId: org, invitationId: 'i-1', secretHash, now: at },
      });
      const pending = [created, invited('i-1', 'ada@acme.test', 'admin')];
      spec
        .given(...pending)
        .when(accept('hash-i-1'))
        .then([joined('i-1', 'ada@acme.test', 'admin')]);
      spec
        .given(...pending)
        .when(accept('forged'))
        .thenError(NotAuthenticatedError, { code: 'invalid_invitation' });
      spec
        .given(...pending)
        .when(accept('hash-i-1', '2026-12-09T00:00:00.000Z'))
        .thenError(NotAuthenticatedError);
      spec
        .given(...pending, joined('i-1', 'ada@acme.test', 'admin'))
        .when(accept('hash-i-1'))
        .thenError(NotAuthenticatedError);
      spec
        .given(...pending, { type: 'InvitationRevoked', version: 1, data: { organizationId: org, invitationId: 'i-1' } })
        .when(accept('hash-i-1'))
        .thenError(NotAuthenticatedError);
    });
  });

  describe('When it has members', () => {
    const team = [
      created,
      invited('i-admin', 'admin@acme.test', 'admin'),
      joined('i-admin', 'admin@acme.test', 'admin'),
      invited('i-member', 'member@acme.test', 'member'),
      joined('i-member', 'member@acme.test', 'member'),
    ];
    const admin = 'user-of-i-admin';
    const member = 'user-of-i-member';

    it('lets only owners change roles', () => {
      spec
        .given(...team)
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: member, role: 'viewer', byRole: 'owner' } })
        .then([{ type: 'MemberRoleChanged', version: 1, data: { organizationId: org, userId: member, role: 'viewer', previousRole: 'member' } }]);
      spec
        .given(...team)
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: member, role: 'viewer', byRole: 'admin' } })
        .thenError(ForbiddenError);
      spec
        .given(...team)
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: member, role: 'member', byRole: 'owner' } })
        .thenNothing();
      spec
        .given(...team)
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: 'stranger', role: 'member', byRole: 'owner' } })
        .thenError(NotFoundError);
    });

    it('never leaves the organization without an active owner', () => {
      spec
        .given(...team)
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: 'owner-1', role: 'admin', byRole: 'owner' } })
        .thenError(ConflictError, { code: 'last_owner' });
      spec
        .given(...team)
        .when({ type: 'DeactivateMember', data: { organizationId: org, userId: 'owner-1', byRole: 'owner' } })
        .thenError(ConflictError, { code: 'last_owner' });
      // With a second owner, the first may step down.
      const twoOwners = [
        ...team,
        {
          type: 'MemberRoleChanged',
          version: 1,
          data: { organizationId: org, userId: admin, role: 'owner', previousRole: 'admin' },
        } as OrganizationEvent,
      ];
      spec
        .given(...twoOwners)
        .when({ type: 'DeactivateMember', data: { organizationId: org, userId: 'owner-1', byRole: 'owner' } })
        .then([{ type: 'MemberDeactivated', version: 1, data: { organizationId: org, userId: 'owner-1' } }]);
      // But a deactivated owner does not count as the other owner.
      spec
        .given(...twoOwners, { type: 'MemberDeactivated', version: 1, data: { organizationId: org, userId: 'owner-1' } })
        .when({ type: 'ChangeMemberRole', data: { organizationId: org, userId: admin, role: 'member', byRole: 'owner' } })
        .thenError(ConflictError, { code: 'last_owner' });
    });

    it('lets admins deactivate those below them only; deactivating twice records nothing; reactivates', () => {
      const deactivate = (userId: string, byRole: 'owner' | 'admin') => ({
        type: 'DeactivateMember' as const,
        data: { organizationId: org, userId, byRole },
      });
      const deactivated: OrganizationEvent = { type: 'MemberDeactivated', version: 1, data: { organizationId: org, userId: member } };
      spec
        .given(...team)
        .when(deactivate(member, 'admin'))
        .then([deactivated]);
      spec
        .given(...team)
        .when(deactivate(admin, 'admin'))
        .thenError(ForbiddenError, { code: 'insufficient_role' });
      spec
        .given(...team)
        .when(deactivate('owner-1', 'admin'))
        .thenError(ForbiddenError);
      spec
        .given(...team, deactivated)
        .when(deactivate(member, 'owner'))
        .thenNothing();
      spec
        .given(...team, deactivated)
        .when({ type: 'ReactivateMember', data: { organizationId: org, userId: member, byRole: 'admin' } })
        .then([{ type: 'MemberReactivated', version: 1, data: { organizationId: org, userId: member } }]);
    });

    it('suspends and reactivates once each', () => {
      const suspended: OrganizationEvent = { type: 'OrganizationSuspended', version: 1, data: { organizationId: org, reason: 'unpaid' } };
      spec
        .given(...team)
        .when({ type: 'SuspendOrganization', data: { organizationId: org, reason: 'unpaid' } })
        .then([suspended]);
      spec
        .given(...team, suspended)
        .when({ type: 'SuspendOrganization', data: { organizationId: org, reason: 'again' } })
        .thenNothing();
      spec
        .given(...team, suspended)
        .when({ type: 'ReactivateOrganization', data: { organizationId: org } })
        .then([{ type: 'OrganizationReactivated', version: 1, data: { organizationId: org } }]);
      spec
        .given(...team)
        .when({ type: 'ReactivateOrganization', data: { organizationId: org } })
        .thenNothing();
    });
    it('moves onto an active plan only, and records nothing for the plan it is already on', () => {
      const onGrowth: OrganizationEvent = {
        type: 'OrganizationPlanChanged',
        version: 1,
        data: { organizationId: org, planId: 'growth', previousPlanId: null },
      };
      const change = (planId: string, plan: 'draft' | 'active' | 'retired' | 'absent') => ({
        type: 'ChangeOrganizationPlan' as const,
        data: { organizationId: org, planId, plan },
      });
      spec.given(created).when(change('growth', 'active')).then([onGrowth]);
      spec.given(created, onGrowth).when(change('growth', 'active')).thenNothing();
      spec
        .given(created, onGrowth)
        .when(change('scale', 'active'))
        .then([{ type: 'OrganizationPlanChanged', version: 1, data: { organizationId: org, planId: 'scale', previousPlanId: 'growth' } }]);
      spec.given(created).when(change('draft-plan', 'draft')).thenError(RuleViolationError, { code: 'plan_not_active', field: 'planId' });
      spec.given(created).when(change('old', 'retired')).thenError(RuleViolationError, { code: 'plan_not_active', field: 'planId' });
      spec.given(created).when(change('nope', 'absent')).thenError(RuleViolationError, { code: 'unknown_plan', field: 'planId' });
      spec.given().when(change('growth', 'active')).thenError(NotFoundError);
    });

    it('extends a trial only forward, into the future, at most a year ahead', () => {
      const extend = (trialEndsAt: string) => ({ type: 'ExtendTrial' as const, data: { organizationId: org, trialEndsAt, now } });
      const extended: OrganizationEvent = {
        type: 'TrialExtended',
        version: 1,
        data: { organizationId: org, trialEndsAt: '2026-12-20T00:00:00.000Z', previousTrialEndsAt: null },
      };
      spec.given(created).when(extend('2026-12-20T00:00:00Z')).then([extended]);
      spec
        .given(created, extended)
        .when(extend('2027-01-05T00:00:00.000Z'))
        .then([
          {
            type: 'TrialExtended',
            version: 1,
            data: { organizationId: org, trialEndsAt: '2027-01-05T00:00:00.000Z', previousTrialEndsAt: '2026-12-20T00:00:00.000Z' },
          },
        ]);
      spec
        .given(created, extended)
        .when(extend('2026-12-10T00:00:00.000Z'))
        .thenError(RuleViolationError, { code: 'not_an_extension', field: 'trialEndsAt' });
      spec.given(created).when(extend('2026-11-30T00:00:00.000Z')).thenError(RuleViolationError, { code: 'trial_end_in_past', field: 'trialEndsAt' });
      spec.given(created).when(extend('2028-06-01T00:00:00.000Z')).thenError(RuleViolationError, { code: 'trial_too_long' });
      spec.given(created).when(extend('soon')).thenError(RuleViolationError, { code: 'invalid_date' });
    });

    it('records an impersonation with who, why and until when; it needs a reason', () => {
      const data = { organizationId: org, impersonationId: 'imp-1', staffId: 'staff-1', expiresAt: '2026-12-01T12:15:00.000Z', reason: 'ticket 42' };
      spec
        .given(created)
        .when({ type: 'StartImpersonation', data: { ...data, now } })
        .then([{ type: 'ImpersonationStarted', version: 1, data }]);
      spec
        .given(created)
        .when({ type: 'StartImpersonation', data: { ...data, reason: ' ', now } })
        .thenError(RuleViolationError, { field: 'reason' });
    });
  });
});
