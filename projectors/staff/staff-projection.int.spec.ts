import { randomUUID } from 'node:crypto';
import { staffMemberDecider, staffStream } from '../../domain/staff/staff-member.ts';
import { at, entityStream, fact, projectionSpec, rowsOf } from '../../test/support/projection-spec.ts';
import { staffProjection } from './staff-projection.ts';
import { StaffViewSchema, type StaffView } from './staff-view.ts';

describe('staff projection', function () {
  this.timeout(30_000);
  const spec = projectionSpec(staffProjection);
  // Staff are platform-level: the console lists them all, no tenant scope.
  const members = rowsOf(StaffViewSchema, { orderBy: { createdAt: 'asc' } });

  function staffMember(name: string, role: 'support' | 'admin', minutes = 0) {
    const staffId = randomUUID();
    const metadata = { tenantId: null, actor: { type: 'staff' as const, id: staffId } };
    const stream = entityStream(staffMemberDecider, staffStream(staffId), metadata);
    const email = `${name.toLowerCase()}@nexusflow.test`;
    const created = stream.decide({ type: 'CreateStaffMember', data: { staffId, email, name, role, passwordHash: 'scrypt$staff' } }, minutes);
    const row = (overrides: Partial<StaffView> = {}): StaffView => ({
      id: staffId,
      email,
      name,
      role,
      status: 'active',
      totpEnabled: false,
      lastSignInAt: null,
      createdAt: new Date(at(minutes)),
      revision: 0,
      ...overrides,
    });
    const signIn = (m: number, totpStep: number | null = null) => stream.decide({ type: 'RecordStaffSignIn', data: { staffId, totpStep } }, m);
    return { staffId, metadata, stream, created, row, signIn };
  }

  it('lists a staff member without credentials, active and without two-factor sign-in', async () => {
    const ada = staffMember('Ada', 'admin');
    await spec.given(ada.created).then(members, [ada.row()]);
  });

  it('follows two-factor sign-in, sign-ins and disabling, at the revision of the last event it shows', async () => {
    const ada = staffMember('Ada', 'admin');
    const bob = staffMember('Bob', 'support', 1);
    const totp = ada.stream.decide({ type: 'EnableStaffTotp', data: { staffId: ada.staffId, sealedSecret: 'sealed' } }, 2);
    const signedIn = ada.signIn(3, 1_000);
    // Not shown in the list: the row stays at the revision of the sign-in before it (2).
    const password = ada.stream.decide({ type: 'ChangeStaffPassword', data: { staffId: ada.staffId, passwordHash: 'scrypt$new' } }, 4);
    const bobIn = bob.signIn(5);
    const bobOff = bob.stream.decide({ type: 'DisableStaffMember', data: { staffId: bob.staffId } }, 6);
    const expected = [
      ada.row({ totpEnabled: true, lastSignInAt: new Date(at(3)), revision: 2 }),
      bob.row({ status: 'disabled', lastSignInAt: new Date(at(5)), revision: 2 }),
    ];
    await spec.given(ada.created, bob.created, totp, signedIn, password, bobIn, bobOff).then(members, expected);
    await spec.given(ada.created, bob.created).when(totp, signedIn, password, bobIn, bobOff).then(members, expected);
    await spec.given(ada.created, bob.created, totp, signedIn, password, bobIn, bobOff).inBatchesOf(1).then(members, expected);
    // The next sign-in after the password change shows its own revision (4).
    const again = ada.signIn(8, 1_001);
    await spec
      .given(ada.created, bob.created, totp, signedIn, password)
      .when(again)
      .then(members, [ada.row({ totpEnabled: true, lastSignInAt: new Date(at(8)), revision: 4 }), bob.row()]);
  });

  it('parks a second creation and a sign-in of someone it never saw, and goes on', async () => {
    const ada = staffMember('Ada', 'admin');
    const copy = fact(`${staffStream(ada.staffId)}-copy`, ada.created[0]!.event, ada.metadata);
    const ghostId = randomUUID();
    const ghost = fact(staffStream(ghostId), { type: 'StaffSignedIn', version: 1, data: { staffId: ghostId, totpStep: null } }, ada.metadata);
    const scenario = spec.given(ada.created, copy, ghost, ada.signIn(7));
    await scenario.thenParked([
      { eventType: 'StaffMemberCreated', error: /already exists/ },
      { eventType: 'StaffSignedIn', error: /is not in the read model/ },
    ]);
    await scenario.then(members, [ada.row({ lastSignInAt: new Date(at(7)), revision: 1 })]);
  });
});
