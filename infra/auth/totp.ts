import { Secret, TOTP } from 'otpauth';

const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** One step either side: a phone clock a little off, or a code typed as it rolls over. */
const WINDOW = 1;

/**
 * Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps, the parameters every
 * authenticator app understands), through the otpauth library.
 */
export class TotpAuthenticator {
  constructor(private readonly issuer: string) {}

  /** A new random secret (160 bits, RFC 4226's recommendation), base32 as apps expect it. */
  newSecret(): string {
    return new Secret({ size: 20 }).base32;
  }

  /** The otpauth:// URI an authenticator app scans (as a QR code) or imports. */
  uri(secret: string, account: string): string {
    return this.totp(secret, account).toString();
  }

  /** The time step of a valid code at `now`, or null. Callers refuse a step already used. */
  verify(secret: string, code: string, now: Date): number | null {
    if (!/^\d{6}$/.test(code)) return null;
    const timestamp = now.getTime();
    const delta = this.totp(secret).validate({ token: code, timestamp, window: WINDOW });
    if (delta === null) return null;
    return Math.floor(timestamp / 1000 / PERIOD_SECONDS) + delta;
  }

  private totp(secret: string, account = 'account'): TOTP {
    return new TOTP({
      issuer: this.issuer,
      label: account,
      algorithm: 'SHA1',
      digits: DIGITS,
      period: PERIOD_SECONDS,
      secret: Secret.fromBase32(secret),
    });
  }
}
