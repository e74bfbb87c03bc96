import type { Permission } from '../../domain/access/permissions.ts';
import type { HttpClient } from './http.ts';

export interface Operation {
  method: string;
  path: string;
  permission: Permission | undefined;
  example: unknown;
  hasBody: boolean;
  authenticated: boolean;
}

/** Every operation /openapi.json describes, with the permission it says it needs. */
export async function operationsOf(http: HttpClient): Promise<Operation[]> {
  const spec = (await http.get('/openapi.json')).body as {
    paths: Record<
      string,
      Record<string, { 'x-permission'?: Permission; security?: unknown[]; requestBody?: { content: Record<string, { example?: unknown }> } }>
    >;
  };
  return Object.entries(spec.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      permission: operation['x-permission'],
      example: operation.requestBody?.content['application/json']?.example,
      hasBody: operation.requestBody !== undefined,
      // Whether the route takes a bearer (an access token or API key); not public routes (sign-in, webhooks, OAuth callbacks).
      authenticated: (operation.security?.length ?? 0) > 0,
    })),
  );
}
