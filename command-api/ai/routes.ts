import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import { z } from 'zod';
import { holds } from '../../domain/access/principal.ts';
import { authOf } from '../../infra/http/authenticate.ts';
import { uuidLike } from '../../infra/http/fields.ts';
import { ProblemError } from '../../infra/http/problem.ts';
import { describeLimit } from '../../infra/http/rate-limits.ts';
import { defineRoute, type AnyRoute } from '../../infra/http/routes.ts';
import { OFFLINE_NOTE } from '../../infra/ai/offline-provider.ts';
import { commandContextOf } from '../http.ts';
import { AiInvalidAnswerError, ANSWER_TOKENS, type AiFeatures } from './ai-features.ts';
import { AiDisabledError, AiRateLimitedError, AiRequestTooLargeError, type Answered } from './ai-service.ts';
import { AiProviderUnavailable, AiRequestRejected, type ChatChunk } from './ports.ts';
import type { Served } from './router.ts';

const TAG = 'AI';

const cacheField = z
  .boolean({ error: 'must be true or false' })
  .optional()
  .describe("Cache the answer in (and answer from) the organization's cache; absent: the endpoint's default (see AI_CACHE_ENDPOINTS)");

const message = z.strictObject({
  role: z.enum(['system', 'user', 'assistant'], { error: 'must be system, user or assistant' }),
  content: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(100_000),
});

const completeBody = z
  .strictObject({
    prompt: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(100_000).optional(),
    messages: z.array(message).min(1, 'must hold at least one message').max(100).optional(),
    maxTokens: z
      .number({ error: 'must be a number' })
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(`The answer's cap in tokens (default ${ANSWER_TOKENS.complete})`),
    temperature: z.number({ error: 'must be a number' }).min(0).max(2).optional(),
    stream: z
      .boolean({ error: 'must be true or false' })
      .default(false)
      .describe('true: Server-Sent Events (`delta` pieces, then `done` with the usage)'),
    cache: cacheField,
  })
  .superRefine((body, ctx) => {
    if ((body.prompt === undefined) === (body.messages === undefined))
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'send either prompt or messages (one of them)' });
  });

const embedBody = z.strictObject({
  input: z.union([z.string().min(1, 'must not be empty').max(50_000), z.array(z.string().min(1, 'must not be empty').max(50_000)).min(1).max(100)], {
    error: 'must be a text or a list of 1 to 100 texts',
  }),
  cache: cacheField,
});

const searchBody = z.strictObject({
  query: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(2_000),
  kind: z
    .enum(['contact', 'email'], { error: 'must be contact or email' })
    .default('contact')
    .describe('contact: the contacts; email: the emails workflows sent (by subject)'),
  limit: z.number({ error: 'must be a number' }).int().min(1).max(50).default(10),
  coverage: z
    .boolean({ error: 'must be true or false' })
    .default(false)
    .describe("true: also count the organization's contacts and how many have an embedding yet (costs a count of them)"),
});

const suggestBody = z.strictObject({
  goal: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(4_000),
  steps: z
    .array(z.object({ type: z.string().min(1).max(64), name: z.string().max(200).optional() }))
    .max(100)
    .default([])
    .describe("The workflow's steps so far (their type and name are enough)"),
  count: z.number({ error: 'must be a number' }).int().min(1).max(10).default(3),
  cache: cacheField,
});

const emailBody = z.strictObject({
  instructions: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(4_000),
  contactId: z.string({ error: 'must be a contact id' }).regex(uuidLike, { error: 'must be a contact id' }).optional(),
  tone: z.string({ error: 'must be a string' }).trim().min(1).max(100).optional().describe('e.g. friendly, formal, brief'),
  cache: cacheField.describe('Personal: never cached unless true'),
});

const sentimentBody = z.strictObject({
  text: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(20_000),
  cache: cacheField,
});

const workflowBody = z.strictObject({
  prompt: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(4_000),
  mailbox: z.email({ error: 'must be an email address' }).max(254).optional(),
  timezone: z.string().min(1).max(64).optional(),
  cache: cacheField,
});

const labels = {
  model: z.string().describe('The model that answered'),
  provider: z.string().describe('openai, fallback or offline'),
  fellBack: z.boolean().describe('The primary could not answer; a fallback did'),
  prompt: z.string().describe('The prompt version (command-api/ai/prompts/<name>.v<N>.md)'),
  cache: z.enum(['hit', 'miss', 'off']),
  usage: z.object({ promptTokens: z.number(), completionTokens: z.number(), totalTokens: z.number() }),
  offline: z.object({ note: z.string() }).optional().describe('Present when no language model answered'),
};

const aiResponses = {
  400: { description: 'Invalid input; `invalid-params` names each bad field' },
  402: { description: "The plan's monthly AI-token allowance is used up (`plan_limit_reached`, `limit: aiTokensPerMonth`)" },
  403: { description: 'Missing permission, or AI is turned off for the organization (`ai_disabled`)' },
  413: { description: 'The request would take more tokens than one request may (`request_too_large`), counted before any call' },
  429: { description: "The organization's AI requests per minute are used up (Retry-After)" },
  502: { description: 'The provider refused the request, or its answer was not usable' },
  503: { description: 'No provider could answer (Retry-After)' },
};

/** An AI failure as the API answers it: never a 500 for a provider's trouble. */
export function aiProblem(err: unknown): ProblemError | null {
  if (err instanceof AiDisabledError) return ProblemError.forbidden(err.message, err.code);
  if (err instanceof AiRequestTooLargeError) {
    return new ProblemError(413, 'Request too large', err.message, { code: err.code, tokens: err.tokens, limit: err.limit });
  }
  if (err instanceof AiRateLimitedError) {
    return new ProblemError(
      429,
      'Too many requests',
      err.message,
      { code: err.code, limit: err.policy.limit },
      { 'Retry-After': String(err.decision.retryAfterSeconds) },
    );
  }
  if (err instanceof AiProviderUnavailable) {
    const seconds = Math.max(1, Math.ceil((err.retryAfterMs ?? 5_000) / 1000));
    return new ProblemError(
      503,
      'AI provider unavailable',
      'No AI provider could answer now; retry shortly.',
      { code: 'ai_unavailable' },
      { 'Retry-After': String(seconds) },
    );
  }
  if (err instanceof AiRequestRejected) {
    return new ProblemError(502, 'AI provider refused the request', `The AI provider refused the request (HTTP ${err.status}).`, {
      code: 'provider_rejected',
      providerCode: err.code,
    });
  }
  if (err instanceof AiInvalidAnswerError) {
    return new ProblemError(502, 'Unusable AI answer', err.message, { code: 'ai_invalid_answer', problems: err.problems.slice(0, 20) });
  }
  return null;
}

async function callingAi<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw aiProblem(err) ?? err;
  }
}

function labelled(served: Served) {
  return {
    model: served.model,
    provider: served.provider,
    fellBack: served.fellBack,
    ...(served.offline ? { offline: { note: OFFLINE_NOTE } } : {}),
  };
}

function respond<T extends object>(ctx: Koa.Context, answered: Answered<T>, requestsPerMinute: number): void {
  if (answered.rateLimit) describeLimit(ctx, answered.rateLimit, { limit: requestsPerMinute, windowMs: 60_000 });
  ctx.set('X-AI-Cache', answered.cache);
  ctx.set('X-AI-Prompt', answered.prompt);
  ctx.set('X-AI-Provider', answered.served.provider);
  ctx.set('X-AI-Model', answered.served.model);
  ctx.status = 200;
  ctx.body = { ...answered.result, ...labelled(answered.served), prompt: answered.prompt, cache: answered.cache, usage: answered.usage };
}

export function aiRoutes(features: AiFeatures, requestsPerMinute: number): AnyRoute[] {
  const organizationOf = (ctx: Koa.Context) => authOf(ctx).organizationId;
  const limitsNote =
    ` Every AI request of the organization counts toward its ${requestsPerMinute} per minute (429 with Retry-After, across every ` +
    `process) and, when it reaches a provider, toward the plan's monthly AI-token allowance (402 once used up); it may take at ` +
    `most ${features.service.maxTokensPerRequest} tokens (413, counted before any call). Without a provider key the answer is made ` +
    'offline (templates and rules) and says so in `offline`.';
  return [
    defineRoute({
      method: 'post',
      path: '/ai/complete',
      operationId: 'aiComplete',
      summary: 'Answer a prompt or a conversation with the chat model',
      description:
        'Send `prompt` (one text) or `messages` (a conversation). With `stream: true` the answer comes as Server-Sent Events.' + limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: completeBody,
      freeText: ['prompt', 'messages.*.content'],
      bodyExample: { prompt: 'Give me three subject lines for a follow-up after a product demo.' },
      responses: {
        200: { description: 'The answer', schema: z.object({ text: z.string(), finishReason: z.string(), ...labels }) },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const context = commandContextOf(ctx);
        const request = body as z.infer<typeof completeBody>;
        if (!request.stream) {
          const answered = await callingAi(() => features.complete(context, organizationOf(ctx), request));
          respond(ctx, answered, requestsPerMinute);
          return;
        }
        await streamCompletion(ctx, features, organizationOf(ctx), request, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/embed',
      operationId: 'aiEmbed',
      summary: 'Embed texts as vectors',
      description:
        'One vector per input text, in order, from the embedding model (of AI_EMBEDDING_DIMENSIONS length where the model can shorten it).' +
        limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: embedBody,
      freeText: ['input', 'input.*'],
      bodyExample: { input: ['Head of Sales at a logistics company', 'CTO, fintech startup'] },
      responses: {
        200: { description: 'The vectors', schema: z.object({ vectors: z.array(z.array(z.number())), dimensions: z.number(), ...labels }) },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const input = typeof body.input === 'string' ? [body.input] : body.input;
        const answered = await callingAi(() => features.embed(commandContextOf(ctx), organizationOf(ctx), { input, cache: body.cache }));
        respond(ctx, answered, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/search',
      operationId: 'aiSearch',
      summary: "Find the organization's contacts (or sent emails) nearest in meaning to a query",
      description:
        "The query is embedded and compared with the embeddings of the organization's contacts (name, title, company and tags; " +
        'kept up to date by the embeddings projection). `engine` says which search ran: `pgvector`, or `scan` (an exact cosine ' +
        'scan where the database has no pgvector). With `coverage: true`, `coverage` says how many of the contacts have an embedding yet (null otherwise). Needs ' +
        'contacts:read too.' +
        limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: searchBody,
      bodyExample: { query: 'logistics decision makers', limit: 10 },
      responses: {
        200: {
          description: 'Matches, nearest first',
          schema: z.object({
            engine: z.enum(['pgvector', 'scan']),
            matches: z.array(z.object({ id: z.string(), kind: z.string(), score: z.number(), href: z.string().nullable() })),
            coverage: z.object({ items: z.number(), embedded: z.number() }).nullable(),
            ...labels,
          }),
        },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        if (!holds(authOf(ctx), 'contacts:read')) throw ProblemError.forbidden('Searching contacts needs the contacts:read permission too.');
        const answered = await callingAi(() => features.search(commandContextOf(ctx), organizationOf(ctx), body));
        const { engine, matches, coverage } = answered.result;
        respond(
          ctx,
          {
            ...answered,
            result: {
              engine,
              coverage,
              matches: matches.map((match) => ({
                id: match.itemId,
                kind: body.kind,
                score: Number(match.score.toFixed(6)),
                href: body.kind === 'contact' ? `/contacts/${match.itemId}` : null,
              })),
            },
          },
          requestsPerMinute,
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/suggest/workflow-steps',
      operationId: 'aiSuggestWorkflowSteps',
      summary: 'Suggest the next steps of a workflow for a goal',
      description:
        "Each suggestion is a step POST /workflows accepts (its type's configuration checked by the workflow engine); the model's " +
        'suggestions that are not are dropped (`dropped` counts them).' +
        limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: suggestBody,
      freeText: ['goal'],
      bodyExample: { goal: 'Book a demo with new trial sign-ups', steps: [{ type: 'send_email', name: 'Welcome' }], count: 3 },
      responses: {
        200: {
          description: 'Suggested steps',
          schema: z.object({
            steps: z.array(z.object({ type: z.string(), name: z.string(), config: z.record(z.string(), z.unknown()), reason: z.string() })),
            dropped: z.number(),
            ...labels,
          }),
        },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const answered = await callingAi(() => features.suggestSteps(commandContextOf(ctx), organizationOf(ctx), body));
        respond(ctx, answered, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/generate/email',
      operationId: 'aiGenerateEmail',
      summary: 'Write an email from instructions, for a contact or none',
      description:
        "With `contactId`, only the contact's fields the prompt names (first and last name, title, company) are sent to the " +
        'provider, never its email address or other fields; an erased or deleted contact is not found (404) and nothing of it is ' +
        'sent.' +
        limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: emailBody,
      freeText: ['instructions'],
      bodyExample: { instructions: 'Thank them for the demo and propose a call next week.', tone: 'friendly' },
      responses: {
        200: {
          description: 'The email',
          schema: z.object({ subject: z.string(), body: z.string(), contactId: z.string().nullable(), ...labels }),
        },
        404: { description: 'No such contact in the organization' },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const answered = await callingAi(() => features.generateEmail(commandContextOf(ctx), organizationOf(ctx), body));
        respond(ctx, answered, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/analyze/sentiment',
      operationId: 'aiAnalyzeSentiment',
      summary: 'Say whether a text is positive, neutral or negative',
      description: 'A sentiment, a score from -1 to 1, and up to three phrases that carry it.' + limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: sentimentBody,
      freeText: ['text'],
      bodyExample: { text: "Thanks, the demo was great — but we can't start before next quarter." },
      responses: {
        200: {
          description: 'The sentiment',
          schema: z.object({ sentiment: z.enum(['positive', 'neutral', 'negative']), score: z.number(), reasons: z.array(z.string()), ...labels }),
        },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const answered = await callingAi(() => features.analyzeSentiment(commandContextOf(ctx), organizationOf(ctx), body));
        respond(ctx, answered, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/ai/generate/workflow',
      operationId: 'aiGenerateWorkflow',
      summary: 'Turn a sentence into a workflow definition',
      description:
        "`definition` is what POST /workflows accepts as is: checked by the workflow engine's own validation before it is " +
        "returned. A model's answer with problems is sent back to it once, with the problems (`repaired: true`); if it is still " +
        'not valid the answer is 502 `ai_invalid_answer` with the problems.' +
        limitsNote,
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      body: workflowBody,
      freeText: ['prompt'],
      bodyExample: { prompt: 'Send a welcome email, wait 3 days, then follow up and tag them as nurtured', mailbox: 'sales@acme.test' },
      responses: {
        200: {
          description: 'A workflow definition',
          schema: z.object({ definition: z.record(z.string(), z.unknown()), repaired: z.boolean(), ...labels }),
        },
        ...aiResponses,
      },
      async handler(ctx, { body }) {
        const answered = await callingAi(() => features.generateWorkflow(commandContextOf(ctx), organizationOf(ctx), body));
        respond(ctx, answered, requestsPerMinute);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/ai/models',
      operationId: 'aiModels',
      summary: 'The model aliases and the providers that serve them',
      description: 'Each alias (`chat`, `embedding`) with its primary and fallbacks in order. Costs no tokens and no AI request.',
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      responses: {
        200: {
          description: 'The routing table',
          schema: z.object({
            aliases: z.array(
              z.object({ alias: z.string(), targets: z.array(z.object({ provider: z.string(), model: z.string(), offline: z.boolean() })) }),
            ),
            offline: z.object({ note: z.string() }).optional(),
          }),
        },
      },
      async handler(ctx) {
        const aliases = features.models();
        const offline = aliases.every((alias) => alias.targets.every((target) => target.offline));
        ctx.body = { aliases, ...(offline ? { offline: { note: OFFLINE_NOTE } } : {}) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/ai/usage',
      operationId: 'aiUsage',
      summary: "The organization's AI tokens in the current billing period, against the plan's allowance",
      description: 'Exact: read from the usage recorded by every process (each call that reached a provider, streamed ones included).',
      tag: TAG,
      auth: 'bearer',
      permission: 'ai:use',
      responses: {
        200: {
          description: 'Usage and allowance',
          schema: z.object({
            period: z.object({ start: z.string(), end: z.string() }),
            used: z.number(),
            allowance: z.number().nullable(),
            remaining: z.number().nullable(),
            plan: z.object({ id: z.string(), name: z.string() }).nullable(),
          }),
        },
      },
      async handler(ctx) {
        const usage = await features.service.usage(organizationOf(ctx));
        ctx.body = {
          period: { start: usage.period.start.toISOString(), end: usage.period.end.toISOString() },
          used: usage.used,
          allowance: usage.allowance,
          remaining: usage.allowance === null ? null : Math.max(0, usage.allowance - usage.used),
          plan: usage.plan,
        };
      },
    }),
  ];
}

/** POST /ai/complete with `stream: true`: checks and the first piece before the headers, so a refusal is still problem+json. */
async function streamCompletion(
  ctx: Koa.Context,
  features: AiFeatures,
  organizationId: string,
  request: z.infer<typeof completeBody>,
  requestsPerMinute: number,
): Promise<void> {
  const controller = new AbortController();
  ctx.req.on('close', () => {
    if (!ctx.res.writableFinished) controller.abort();
  });
  let served: Served | null = null;
  let promptId = 'complete';
  const chunks = await callingAi(() =>
    features.completeStream(
      commandContextOf(ctx),
      organizationId,
      request,
      (by, rateLimit, prompt) => {
        served = by;
        promptId = prompt;
        if (rateLimit) describeLimit(ctx, rateLimit, { limit: requestsPerMinute, windowMs: 60_000 });
      },
      controller.signal,
    ),
  );
  const first = await callingAi(() => chunks.next());
  const sse = new PassThrough();
  const send = (event: string, data: unknown) => sse.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const by = served as Served | null;
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('X-AI-Cache', 'off');
  ctx.set('X-AI-Prompt', promptId);
  if (by) {
    ctx.set('X-AI-Provider', by.provider);
    ctx.set('X-AI-Model', by.model);
  }
  ctx.status = 200;
  ctx.type = 'text/event-stream';
  ctx.body = sse;
  const write = (chunk: ChatChunk) => {
    if (chunk.type === 'delta') send('delta', { text: chunk.text });
    else {
      const usage = { ...chunk.usage, totalTokens: chunk.usage.promptTokens + chunk.usage.completionTokens };
      send('done', { finishReason: chunk.finishReason, usage, ...(by ? labelled({ ...by, model: chunk.model || by.model }) : {}) });
    }
  };
  void (async () => {
    try {
      if (!first.done) write(first.value);
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) write(next.value);
    } catch (err) {
      if (!controller.signal.aborted)
        send('error', { code: (aiProblem(err)?.extra.code as string | undefined) ?? 'stream_failed', detail: 'The answer broke off.' });
    } finally {
      sse.end();
    }
  })();
}
