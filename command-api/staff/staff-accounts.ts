import { randomUUID } from 'node:crypto';
import { claimDecider, type Claim, type ClaimEvent } from '../../domain/uniqueness/claim.ts';
import { NotAuthenticatedError, SignInLockedError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { staffMemberDecider, staffStream, type StaffMember } from '../../domain/staff/staff-member.ts';
import type { StaffRole } from '../../domain/staff/staff-permissions.ts';
import type { CommandHandler } from '../command-handling.ts';
import type { PasswordHasher } from '../auth/ports.ts';
import { claimStreamId, type ValueClaims } from '../uniqueness/value-claims.ts';

export const staffEmailClaimStream = (email: string) => claimStreamId('staffEmail', email);
const TOTP_PURPOSE = 'staff-totp-secret';

/** A staff member as the console knows them after sign-in (what its session holds). */
export interface SignedInStaff {
  id: string;
  email: string;
  name: string;
  role: StaffRole;
}

export interface StaffSecrets {
  encrypt(plaintext: string, purpose: string): string;
  decrypt(sealed: string, purpose: string): string;
}

export interface StaffOneTimePasswords {
  newSecret(): string;
  uri(secret: string, account: string): string;
  verify(secret: string, code: string, now: Date): number | null;
}

export interface StaffSignInAttempts {
  lockedForMs(key: string): Promise<number>;
  recordFailure(key: string): Promise<void>;
  recordSuccess(key: string): Promise<void>;
}

export class StaffSignInLockedError extends SignInLockedError {
  constructor(readonly retryAfterMs: number) {
    super(retryAfterMs, 'Too many failed sign-ins; try again later', 'staff_sign_in_locked');
  }
}

/**
 * Staff accounts: created by the CLI (never with a default password), signed in to the console with a
 * password and, once turned on, a TOTP code. Emails are unique through a claim stream, like users' logins,
 * but in a namespace of their own: a staff member is never a tenant user.
 */
export class StaffAccounts {
  constructor(
    private readonly handler: CommandHandler,
    private readonly claims: ValueClaims,
    private readonly hasher: PasswordHasher,
    private readonly secrets: StaffSecrets,
    private readonly otp: StaffOneTimePasswords,
    private readonly attempts: StaffSignInAttempts,
  ) {}

  async create(context: CommandContext, account: { email: string; name: string; password: string; role: StaffRole }): Promise<SignedInStaff> {
    const staffId = randomUUID();
    const email = account.email.trim().toLowerCase();
    const platform = { ...context, tenantId: null };
    await this.claims.claim(
      staffEmailClaimStream(email),
      {
        ownerId: staffId,
        field: 'email',
        duplicateMessage: 'A staff member with this email already exists',
        ownerStatus: async (ownerId) => ((await this.load(ownerId)).status === 'absent' ? 'absent' : 'holds'),
      },
      platform,
    );
    const passwordHash = await this.hasher.hash(account.password);
    await this.handler.handle(
      staffStream(staffId),
      staffMemberDecider,
      { type: 'CreateStaffMember', data: { staffId, email, name: account.name, role: account.role, passwordHash } },
      platform,
      { newStream: true },
    );
    return { id: staffId, email, name: account.name.trim(), role: account.role };
  }

  /** Turns two-factor sign-in on; the secret and the otpauth:// URI are shown once, to the caller. */
  async enableTotp(context: CommandContext, email: string): Promise<{ secret: string; otpauthUri: string }> {
    const staff = await this.byEmail(email);
    if (!staff) throw new NotAuthenticatedError('No staff member has this email', 'unknown_staff');
    const secret = this.otp.newSecret();
    await this.handler.handle(
      staffStream(staff.id),
      staffMemberDecider,
      { type: 'EnableStaffTotp', data: { staffId: staff.id, sealedSecret: this.secrets.encrypt(secret, TOTP_PURPOSE) } },
      { ...context, tenantId: null },
    );
    return { secret, otpauthUri: this.otp.uri(secret, staff.email) };
  }

  /**
   * Checks the password (and the code, when two-factor is on) and records the sign-in. Every failure is the
   * same "invalid credentials" whatever was wrong, and failures count towards a lockout per email.
   */
  async signIn(context: CommandContext, credentials: { email: string; password: string; code?: string }): Promise<SignedInStaff> {
    const email = credentials.email.trim().toLowerCase();
    const key = `staff:${email}`;
    const lockedForMs = await this.attempts.lockedForMs(key);
    if (lockedForMs > 0) throw new StaffSignInLockedError(lockedForMs);
    const staff = await this.byEmail(email);
    const fail = async (): Promise<never> => {
      await this.attempts.recordFailure(key);
      throw new NotAuthenticatedError('Invalid email, password or code', 'invalid_credentials');
    };
    // A missing account costs a hash too, so timing does not tell which emails are staff.
    const passwordOk = await this.hasher.verify(credentials.password, staff ? staff.passwordHash : await this.dummyHash());
    if (!staff || staff.status !== 'active' || !passwordOk) return fail();
    let totpStep: number | null = null;
    if (staff.sealedTotpSecret !== null) {
      totpStep = credentials.code
        ? this.otp.verify(this.secrets.decrypt(staff.sealedTotpSecret, TOTP_PURPOSE), credentials.code.replace(/\s/g, ''), context.now)
        : null;
      if (totpStep === null) return fail();
    }
    try {
      // The stream's concurrency makes a replayed code lose against the sign-in that used it first.
      await this.handler.handle(
        staffStream(staff.id),
        staffMemberDecider,
        { type: 'RecordStaffSignIn', data: { staffId: staff.id, totpStep } },
        {
          ...context,
          tenantId: null,
          actor: { type: 'staff', id: staff.id },
        },
      );
    } catch (err) {
      if (err instanceof NotAuthenticatedError) return fail();
      throw err;
    }
    await this.attempts.recordSuccess(key);
    return { id: staff.id, email: staff.email, name: staff.name, role: staff.role };
  }

  /** The member's current state, or null: for sessions, which re-check that the member is still active. */
  async current(staffId: string): Promise<SignedInStaff | null> {
    const staff = await this.load(staffId);
    if (staff.status !== 'active') return null;
    return { id: staff.id, email: staff.email, name: staff.name, role: staff.role };
  }

  private async byEmail(email: string): Promise<Extract<StaffMember, { status: 'active' | 'disabled' }> | null> {
    const claim = await this.handler.load<Claim, ClaimEvent>(staffEmailClaimStream(email.trim().toLowerCase()), claimDecider);
    if (!claim.state.ownerId) return null;
    const staff = await this.load(claim.state.ownerId);
    return staff.status === 'absent' ? null : staff;
  }

  /** A hash of nothing anyone knows, at the configured cost, checked when the email matches no staff member. */
  private dummy: Promise<string> | null = null;
  private dummyHash(): Promise<string> {
    this.dummy ??= this.hasher.hash(randomUUID());
    return this.dummy;
  }

  private async load(staffId: string): Promise<StaffMember> {
    return (await this.handler.load(staffStream(staffId), staffMemberDecider)).state;
  }
}
