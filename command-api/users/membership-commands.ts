import { TOKENS } from '../../infra/di/tokens.ts';
import { inject, injectable, optional } from 'inversify';
import { randomUUID } from 'node:crypto';
import type { Role } from '../../domain/access/permissions.ts';
import { actingRole, type Principal } from '../../domain/access/principal.ts';
import { NotAuthenticatedError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import {
  organizationDecider,
  organizationStream,
  type Organization,
  type OrganizationEvent,
  type PendingInvitation,
} from '../../domain/organizations/organization.ts';
import { composeToken, newSecret, parseToken, sha256 } from '../../infra/auth/secret-tokens.ts';
import type { Accounts, SignedIn } from '../auth/accounts.ts';
import { emails } from '../auth/emails.ts';
import type { PasswordHasher, SessionRevocations } from '../auth/ports.ts';
import type { Sessions } from '../auth/sessions.ts';
import type { QuotaGate } from '../billing/quota-gate.ts';
import type { CommandHandler, CommandOutcome } from '../command-handling.ts';
import type { RequestContext } from '../http.ts';
import { WrongExpectedRevisionError, type Mailer, type StreamAppend } from '../ports.ts';

export interface MembershipPolicy {
  appUrl: string;
  invitationTtlMs: number;
}

const invalidInvitation = () => new NotAuthenticatedError('This invitation is invalid, expired, revoked or already used.', 'invalid_invitation');

/** Tries at a reactivation when another write moved the organization between our read and our append. */
const MAX_TRIES = 5;

/**
 * Members of an organization: invitations (a link by email, accepted with a name and a password), roles,
 * deactivation. Who may do what to whom is the organization decider's rule; a change to someone's access
 * also condemns their outstanding access tokens, so it takes effect at once rather than at token expiry.
 * Active members are the plan's seats (QuotaGate): joining (the user's registration) and reactivation take
 * one in the same append, deactivation gives it back. A pending invitation takes none.
 */
@injectable()
export class MembershipCommands {
  constructor(
    @inject(TOKENS.CommandHandler) private readonly handler: CommandHandler,
    @inject(TOKENS.Accounts) private readonly accounts: Accounts,
    @inject(TOKENS.Sessions) private readonly sessions: Sessions,
    @inject(TOKENS.PasswordHasher) private readonly hasher: PasswordHasher,
    @inject(TOKENS.SessionRevocations) private readonly revocations: SessionRevocations,
    /** Throttled per address (see ThrottledMailer). */
    @inject(TOKENS.AccountMailer) private readonly mailer: Mailer,
    @inject(TOKENS.MembershipPolicy) private readonly policy: MembershipPolicy,
    /** The plan limits (absent where a role does not enforce them). */
    @inject(TOKENS.QuotaGate) @optional() private readonly quotas?: QuotaGate,
  ) {}

  async invite(
    principal: Principal,
    context: CommandContext,
    invitation: { email: string; role: Role },
  ): Promise<CommandOutcome<Organization> & { id: string; expiresAt: string }> {
    const invitationId = randomUUID();
    const secret = newSecret();
    const expiresAt = new Date(context.now.getTime() + this.policy.invitationTtlMs).toISOString();
    const outcome = await this.handler.handle(
      organizationStream(principal.organizationId),
      organizationDecider,
      {
        type: 'InviteMember',
        data: {
          organizationId: principal.organizationId,
          invitationId,
          email: invitation.email,
          role: invitation.role,
          userId: randomUUID(),
          secretHash: sha256(secret),
          expiresAt,
          invitedBy: context.actor.id,
          byRole: actingRole(principal),
          now: context.now.toISOString(),
        },
      },
      context,
    );
    const organization = outcome.state as Exclude<Organization, { status: 'absent' }>;
    const link = `${this.policy.appUrl}/accept-invitation?token=${composeToken([principal.organizationId, invitationId], secret)}`;
    await this.mailer.send(
      emails.invitation(invitation.email, organization.name, invitation.role, link, Math.round(this.policy.invitationTtlMs / 86_400_000)),
    );
    return { ...outcome, id: invitationId, expiresAt };
  }

  revokeInvitation(principal: Principal, context: CommandContext, invitationId: string): Promise<CommandOutcome<Organization>> {
    return this.handler.handle(
      organizationStream(principal.organizationId),
      organizationDecider,
      { type: 'RevokeInvitation', data: { organizationId: principal.organizationId, invitationId } },
      context,
    );
  }

  /**
   * The invitee chooses a name and password: their user is created and joins with the invited role, and
   * they are signed in. Each step is safe to repeat, so a crash part-way is mended by accepting again.
   */
  async accept(token: string, account: { name: string; password: string }, context: RequestContext): Promise<SignedIn & { position: string | null }> {
    const parsed = parseToken(token, 2);
    if (!parsed) throw invalidInvitation();
    const [organizationId, invitationId] = parsed.ids as [string, string];
    const loaded = await this.handler.load<Organization, OrganizationEvent>(organizationStream(organizationId), organizationDecider);
    const accept = {
      type: 'AcceptInvitation' as const,
      data: { organizationId, invitationId, secretHash: parsed.secretHash, now: context.now.toISOString() },
    };
    organizationDecider.decide(accept, loaded.state); // a wrong, used, revoked or expired link creates nothing
    const invitation = (loaded.state as Exclude<Organization, { status: 'absent' }>).invitations[invitationId] as PendingInvitation;
    const ctx: CommandContext = { ...context, tenantId: organizationId, actor: { type: 'user', id: invitation.userId } };

    await this.accounts.claimUserEmail(invitation.email, invitation.userId, ctx);
    const passwordHash = await this.hasher.hash(account.password);
    // Takes the seat with the registration (refused at the limit, no user left behind); an accept repeated
    // after a crash finds the user registered, and its seat taken, already.
    await this.accounts.registerUser(
      { userId: invitation.userId, organizationId, name: account.name, email: invitation.email, passwordHash, role: invitation.role },
      ctx,
    );
    const joined = await this.handler.handle(organizationStream(organizationId), organizationDecider, accept, ctx);
    const tokens = await this.sessions.start({ id: invitation.userId, organizationId, role: invitation.role }, context);
    return { ...tokens, position: joined.position };
  }

  async changeRole(principal: Principal, context: CommandContext, userId: string, role: Role): Promise<CommandOutcome<Organization>> {
    const outcome = await this.handler.handle(
      organizationStream(principal.organizationId),
      organizationDecider,
      { type: 'ChangeMemberRole', data: { organizationId: principal.organizationId, userId, role, byRole: actingRole(principal) } },
      context,
    );
    // Tokens carry the role: the old ones must not outlive the change (a refresh gets the new role).
    if (outcome.appended.length > 0) await this.revocations.revokeUser(userId);
    return outcome;
  }

  async deactivate(principal: Principal, context: CommandContext, userId: string): Promise<CommandOutcome<Organization>> {
    // Appended only with a MemberDeactivated, which the decider makes only of an active member: always a seat freed.
    const together = this.quotas ? await this.quotas.releasing(context, principal.organizationId, 'seats', userId) : [];
    const outcome = await this.handler.handle(
      organizationStream(principal.organizationId),
      organizationDecider,
      { type: 'DeactivateMember', data: { organizationId: principal.organizationId, userId, byRole: actingRole(principal) } },
      context,
      { together },
    );
    // Access tokens already issued stop working now (refreshes are refused by the membership itself). If
    // the ephemeral store is down this fails the request, and so does every authenticated request meanwhile.
    if (outcome.appended.length > 0) await this.revocations.revokeUser(userId);
    return outcome;
  }

  async reactivate(principal: Principal, context: CommandContext, userId: string): Promise<CommandOutcome<Organization>> {
    const streamId = organizationStream(principal.organizationId);
    const command = {
      type: 'ReactivateMember' as const,
      data: { organizationId: principal.organizationId, userId, byRole: actingRole(principal) },
    };
    let outcome: CommandOutcome<Organization>;
    for (let attempt = 1; ; attempt++) {
      // Decided on exactly the state read here (appended at its revision): the seat is taken only when that
      // state reactivates the member; one already active is "already so", and a refusal (rank, not found)
      // comes before the limit's.
      const known = await this.handler.loadFor<Organization, OrganizationEvent>(streamId, organizationDecider, context);
      const write = (together: StreamAppend[]) =>
        this.handler.handle(streamId, organizationDecider, command, context, { known, expectedRevision: known.revision, together });
      const takes = this.quotas !== undefined && organizationDecider.decide(command, known.state).length > 0;
      try {
        outcome = takes ? await this.quotas!.taking(context, principal.organizationId, 'seats', userId, write) : await write([]);
        break;
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError && err.streamId === streamId) || attempt >= MAX_TRIES) throw err;
      }
    }
    // The mark is how the API keys this member made learn at once that they work again (it condemns only
    // tokens issued before now, and a deactivated member has none that still work).
    if (outcome.appended.length > 0) await this.revocations.revokeUser(userId);
    return outcome;
  }
}
