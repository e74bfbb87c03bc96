/** The console's own pages (sign-in, the one-time impersonation token): plain HTML, no script. */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const style = `
  body { font-family: system-ui, sans-serif; background: #f6f7fb; display: flex; justify-content: center; padding-top: 10vh; }
  main { background: white; padding: 2rem 2.5rem; border-radius: 8px; box-shadow: 0 2px 12px rgba(0,0,0,.08); width: 26rem; }
  label { display: block; margin-top: 1rem; font-size: .9rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; }
  button { margin-top: 1.5rem; padding: .6rem 1.2rem; }
  .error { color: #b00020; } code { word-break: break-all; }`;

export function loginPage(options: { action: string; csrf: string; error: string | null; email?: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NexusFlow staff console: sign in</title><style>${style}</style></head>
<body><main>
<h1>Staff console</h1>
${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ''}
<form method="post" action="${escapeHtml(options.action)}">
  <input type="hidden" name="_csrf" value="${escapeHtml(options.csrf)}">
  <label>Email <input type="email" name="email" autocomplete="username" required value="${escapeHtml(options.email ?? '')}"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
  <label>Code from your authenticator app (if two-factor sign-in is on)
    <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"></label>
  <button type="submit">Sign in</button>
</form>
</main></body></html>`;
}

export function impersonationPage(grant: { organizationId: string; accessToken: string; expiresAt: string } | null): string {
  const body = grant
    ? `<h1>Read-only access</h1>
<p>Organization <code>${escapeHtml(grant.organizationId)}</code>, until ${escapeHtml(grant.expiresAt)}. This access is recorded in the organization's history.</p>
<p>Use this token with the API (viewer role: reads only); it is shown once and cannot be refreshed:</p>
<p><code data-testid="impersonation-token">${escapeHtml(grant.accessToken)}</code></p>
<p><a href="/admin/resources/Organization/records/${escapeHtml(grant.organizationId)}/show">Back to the organization</a></p>`
    : `<h1>Nothing to show</h1><p>This link was used already, expired, or is someone else's.</p><p><a href="/admin">Back to the console</a></p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Read-only access</title><style>${style}</style></head><body><main>${body}</main></body></html>`;
}
