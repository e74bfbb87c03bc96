import type { OutgoingEmail } from '../ports.ts';

/** The emails of sign-up, sign-in and membership. Plain text: they carry one link and say why. */
export const emails = {
  signupConfirmation(to: string, link: string, hours: number): OutgoingEmail {
    return {
      to,
      template: 'signup-confirmation',
      subject: 'Confirm your email to finish signing up to NexusFlow',
      text: `Welcome to NexusFlow.\n\nConfirm your email address to create your organization:\n\n${link}\n\nThe link works once and expires in ${hours} hours. If you did not sign up, ignore this email.\n`,
    };
  },
  accountExists(to: string, signInLink: string, resetLink: string): OutgoingEmail {
    return {
      to,
      template: 'signup-account-exists',
      subject: 'You already have a NexusFlow account',
      text: `Someone (hopefully you) tried to sign up to NexusFlow with this email, which already has an account.\n\nSign in: ${signInLink}\nForgot your password? ${resetLink}\n\nIf it was not you, nothing has changed and you can ignore this email.\n`,
    };
  },
  passwordReset(to: string, link: string, minutes: number): OutgoingEmail {
    return {
      to,
      template: 'password-reset',
      subject: 'Reset your NexusFlow password',
      text: `Choose a new password here:\n\n${link}\n\nThe link works once and expires in ${minutes} minutes. Every device signed in to your account will be signed out. If you did not ask for this, ignore this email.\n`,
    };
  },
  passwordChanged(to: string): OutgoingEmail {
    return {
      to,
      template: 'password-changed',
      subject: 'Your NexusFlow password was changed',
      text: 'The password of your NexusFlow account was just changed, and every other session was signed out. If it was not you, reset your password at once and contact your administrator.\n',
    };
  },
  invitation(to: string, organizationName: string, role: string, link: string, days: number): OutgoingEmail {
    return {
      to,
      template: 'invitation',
      subject: `You are invited to join ${organizationName} on NexusFlow`,
      text: `You are invited to join ${organizationName} on NexusFlow as ${role}.\n\nAccept the invitation and choose your password:\n\n${link}\n\nThe link works once and expires in ${days} days.\n`,
    };
  },
};
