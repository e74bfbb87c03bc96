import { z } from 'zod';
import type { AnyRoute } from './routes.ts';

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    code: { type: 'string', description: 'Stable machine-readable reason' },
    'invalid-params': {
      type: 'array',
      maxItems: 50,
      description: 'Each bad input (at most 50; the number left out is in invalid-params-omitted)',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, reason: { type: 'string' } },
        required: ['name', 'reason'],
      },
    },
    'invalid-params-omitted': { type: 'integer', description: 'How many more bad inputs there were' },
  },
  required: ['type', 'title', 'status'],
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** OpenAPI 3.1 for the given routes, built from the same zod schemas that validate requests. */
export function buildOpenApi(routes: AnyRoute[], info: { title: string; version: string; description: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const queryParams = route.query ? queryParameters(route.query) : [];
    const headers = [...(route.headers ?? [])];
    // Routes that take or hand out credentials ignore it: their answers are never kept (see RouteSpec.credentials).
    if (route.method !== 'get' && !route.credentials) {
      headers.push({
        name: 'Idempotency-Key',
        description:
          'A unique key (a UUID) per intended operation. A retry with the same key and body gets the first answer again ' +
          '(Idempotent-Replayed: true) instead of repeating the command; the same key with another body is 422. Kept 24 h.',
      });
    }
    if (route.readModels) {
      headers.push({
        name: 'X-Min-Position',
        description:
          'A position a command answered. The response waits (bounded, default 2 s) until the read models include it; ' +
          'if they do not in time: 503 with Retry-After.',
      });
    }
    const headerParams = headers.map((h) => ({
      name: h.name,
      in: 'header',
      required: h.required ?? false,
      description: h.description,
      schema: { type: 'string' },
    }));
    const responses: Record<string, unknown> = {};
    const documented = { ...route.responses };
    if (route.auth === 'bearer') {
      documented[401] ??= { description: 'Missing, invalid, expired or revoked access token or API key' };
      documented[403] ??= {
        description: `The caller lacks the ${route.permission} permission${route.method !== 'get' ? ', or the organization is suspended' : ''}`,
      };
    }
    documented[429] ??= { description: 'Rate limit reached (per IP, and per organization); see Retry-After and the RateLimit-* headers' };
    if (route.method !== 'get')
      documented[422] ??= { description: 'Idempotency-Key reused with a different request, or a business rule refused the command' };
    if (route.readModels) documented[503] ??= { description: 'Read models did not reach X-Min-Position in time; retry after Retry-After' };
    for (const [status, doc] of Object.entries(documented)) {
      const isProblem = Number(status) >= 400;
      responses[status] = {
        description: doc.description,
        ...(doc.headers
          ? { headers: Object.fromEntries(Object.entries(doc.headers).map(([n, d]) => [n, { description: d, schema: { type: 'string' } }])) }
          : {}),
        ...(isProblem
          ? { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } }
          : doc.contentType
            ? { content: { [doc.contentType]: { schema: doc.schema ? jsonSchema(doc.schema, 'output') : { type: 'string' } } } }
            : doc.schema
              ? { content: { 'application/json': { schema: jsonSchema(doc.schema, 'output') } } }
              : {}),
      };
    }
    (paths[path] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(route.auth === 'bearer' ? { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }], 'x-permission': route.permission } : { security: [] }),
      parameters: [...pathParams, ...queryParams, ...headerParams],
      ...(route.freeText?.length ? { 'x-free-text': route.freeText } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: jsonSchema(route.body, 'input'),
                  ...(route.bodyExample !== undefined ? { example: route.bodyExample } : {}),
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'A session access token (POST /auth/login), or an API key (nfk_...) in its place',
        },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (nfk_...)' },
      },
      schemas: { Problem: problemSchema },
    },
  };
}

function queryParameters(schema: z.ZodType) {
  const json = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: property,
  }));
}
