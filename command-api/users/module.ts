import { ContainerModule } from 'inversify';
import type { Config } from '../../infra/config/config.ts';
import { deps } from '../../infra/di/resolve.ts';
import { TOKENS } from '../../infra/di/tokens.ts';
import type { AnyRoute } from '../../infra/http/routes.ts';
import { appUrlOf } from '../auth/module.ts';
import { MembershipCommands, type MembershipPolicy } from './membership-commands.ts';
import { userCommandRoutes } from './routes.ts';

const INVITATION_TTL_MS = 7 * 24 * 60 * 60_000;

/** Members of an organization: invitations, roles, deactivation. */
export const userCommandsModule = new ContainerModule((bind) => {
  bind<MembershipPolicy>(TOKENS.MembershipPolicy).toDynamicValue(async (ctx) => {
    const [config] = await deps<[Config]>(ctx, TOKENS.Config);
    return { appUrl: appUrlOf(config), invitationTtlMs: INVITATION_TTL_MS };
  });
  bind(TOKENS.MembershipCommands).to(MembershipCommands);
  bind<AnyRoute[]>(TOKENS.Routes).toDynamicValue(async (ctx) => {
    const [members] = await deps<[MembershipCommands]>(ctx, TOKENS.MembershipCommands);
    return userCommandRoutes(members);
  });
});
