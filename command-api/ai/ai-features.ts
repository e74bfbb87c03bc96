import { z } from 'zod';
import { composeEmailOffline, suggestStepsOffline, workflowFromSentenceOffline } from '../../domain/ai/offline-writing.ts';
import { keywordSentiment } from '../../domain/ai/sentiment.ts';
import { contactDecider } from '../../domain/contacts/decide.ts';
import { contactStream, type Contact, type ContactEvent } from '../../domain/contacts/contact.ts';
import { NotFoundError } from '../../domain/errors.ts';
import type { CommandContext } from '../../domain/events.ts';
import { stepTypes } from '../../domain/workflows/steps/index.ts';
import { validateDefinition } from '../../domain/workflows/validation.ts';
import { FreeTextFields, textProblemsIn } from '../../infra/http/text-rule.ts';
import type { CommandHandler } from '../command-handling.ts';
import { exampleWorkflow } from '../workflows/example.ts';
import { workflowBody, workflowFreeText } from '../workflows/schemas.ts';
import { AiService, type AiEndpoint, type Answered, type CallOutcome } from './ai-service.ts';
import type { ChatMessage, VectorIndex, VectorMatch } from './ports.ts';
import type { PromptBook } from './prompt-book.ts';
import type { AiRouter, Served } from './router.ts';
import { TokenCount } from './token-count.ts';

/** The model's answer was not what the prompt asked for (502 `ai_invalid_answer`). */
export class AiInvalidAnswerError extends Error {
  constructor(
    readonly endpoint: AiEndpoint,
    readonly problems: { name: string; reason: string }[],
  ) {
    super(`The model's answer to ${endpoint} was not usable: ${problems.map((p) => `${p.name} ${p.reason}`).join('; ')}`);
    this.name = 'AiInvalidAnswerError';
  }
}

/** Answer caps (tokens) per endpoint: part of what a request is counted as taking. */
export const ANSWER_TOKENS = {
  complete: 1_024,
  'generate/email': 800,
  'analyze/sentiment': 200,
  'suggest/workflow-steps': 1_200,
  'generate/workflow': 2_000,
} as const;

const OFFLINE_USAGE = { promptTokens: 0, completionTokens: 0 };

/** How vectors of one model and length are told apart in the index (a model asked for fewer dimensions is another space). */
export const vectorModelOf = (model: string, vector: readonly number[]) => `${model}/${vector.length}`;

const emailAnswer = z.object({ subject: z.string().trim().min(1).max(500), body: z.string().trim().min(1).max(50_000) });
const sentimentAnswer = z.object({
  sentiment: z.enum(['positive', 'neutral', 'negative']),
  score: z.number().min(-1).max(1),
  reasons: z.array(z.string().max(500)).max(10).default([]),
});
const suggestionsAnswer = z.object({
  steps: z.array(
    z.object({
      type: z.string(),
      name: z.string().max(200).optional(),
      config: z.record(z.string(), z.unknown()),
      reason: z.string().max(1_000).optional(),
    }),
  ),
});

function parseJson<T>(endpoint: AiEndpoint, content: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(content.trim().replace(/^```(?:json)?\s*|\s*```$/g, ''));
  } catch {
    throw new AiInvalidAnswerError(endpoint, [{ name: 'answer', reason: 'is not JSON' }]);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AiInvalidAnswerError(
      endpoint,
      parsed.error.issues.map((issue) => ({ name: ['answer', ...issue.path].join('.'), reason: issue.message })),
    );
  }
  return parsed.data;
}

/** The step catalog a prompt shows the model: each type, what it does, and its configuration's JSON Schema. */
function stepCatalog(): string {
  return [...stepTypes.values()]
    .map((step) => {
      const schema = z.toJSONSchema(step.config, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
      delete schema.$schema;
      return `- ${step.type}: ${step.summary}. config: ${JSON.stringify(schema)}`;
    })
    .join('\n');
}

/** The fields of a definition's steps that a suggestion checks against its type (the engine's own schemas). */
function stepProblems(type: string, config: unknown): string | null {
  const step = stepTypes.get(type);
  if (!step) return `is not a known step type`;
  const parsed = step.config.safeParse(config);
  return parsed.success ? null : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'config'} ${issue.message}`).join('; ');
}

/** The named fields of a contact as a prompt takes them (text, or null): nothing else of it is read. */
export function pickFields(contact: object, fields: readonly string[]): Record<string, string | null> {
  const picked: Record<string, string | null> = {};
  for (const field of fields) {
    const value = (contact as Record<string, unknown>)[field];
    picked[field] = typeof value === 'string' || typeof value === 'number' ? String(value) : null;
  }
  return picked;
}

export interface ContactForAi {
  contactId: string;
  /** Only the fields the prompt names are read into it. */
  fields: Record<string, string | null>;
}

/**
 * The AI service's features (issue 22): each builds its prompt from a versioned file, counts it, and goes
 * through the gateway (AiService) to the router; without a provider key the same features answer offline,
 * by rule, through the same checks, labelled so.
 */
export class AiFeatures {
  private counting: Promise<TokenCount> | null = null;
  private catalog: string | null = null;

  constructor(
    readonly service: AiService,
    readonly router: AiRouter,
    private readonly prompts: PromptBook,
    private readonly handler: CommandHandler,
    private readonly index: VectorIndex | null,
    private readonly embeddingDimensions: number | null,
  ) {}

  /** The tokenizer (loaded once, ~0.4 s the first time). */
  tokens(): Promise<TokenCount> {
    this.counting ??= TokenCount.load();
    return this.counting;
  }

  private chatCall<T>(
    context: CommandContext,
    organizationId: string,
    endpoint: AiEndpoint,
    prompt: string,
    messages: ChatMessage[],
    tokens: number,
    cache: { request: unknown; wanted?: boolean | undefined },
    options: { maxTokens: number; temperature?: number | undefined; json: boolean; rateLimited?: boolean },
    /** The answer by rule when no model is configured; absent: the router's offline provider answers. */
    offline: (() => T) | null,
    read: (content: string) => T,
  ) {
    return this.service.run<T>({
      context,
      organizationId,
      endpoint,
      prompt,
      alias: 'chat',
      tokens,
      cacheRequest: cache.request,
      cacheWanted: cache.wanted,
      rateLimited: options.rateLimited ?? true,
      invoke: async (): Promise<CallOutcome<T>> => {
        if (offline && this.router.isOffline('chat')) return { result: offline(), served: this.offlineServed('chat'), usage: OFFLINE_USAGE };
        const answer = await this.router.chat('chat', {
          messages,
          maxTokens: options.maxTokens,
          ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
          ...(options.json ? { responseFormat: 'json' as const } : {}),
        });
        return { result: read(answer.content), served: { ...answer.served, model: answer.model || answer.served.model }, usage: answer.usage };
      },
    });
  }

  private offlineServed(alias: string): Served {
    const target = this.router.targetsOf(alias)[0]!;
    return { provider: target.provider, model: target.model, fellBack: false, offline: true };
  }

  /** POST /ai/complete: a prompt (or a conversation) answered by the chat model. */
  async complete(
    context: CommandContext,
    organizationId: string,
    request: {
      prompt?: string | undefined;
      messages?: ChatMessage[] | undefined;
      maxTokens?: number | undefined;
      temperature?: number | undefined;
      cache?: boolean | undefined;
    },
  ): Promise<Answered<{ text: string; finishReason: string }>> {
    const { prompt, messages, maxTokens } = await this.completionMessages(request);
    const tokens = (await this.tokens()).chat(messages) + maxTokens;
    return this.chatCall(
      context,
      organizationId,
      'complete',
      prompt,
      messages,
      tokens,
      { request: { messages, maxTokens, temperature: request.temperature ?? null }, wanted: request.cache },
      { maxTokens, temperature: request.temperature, json: false },
      null,
      (content) => ({ text: content, finishReason: 'stop' }),
    );
  }

  /** POST /ai/complete with `stream: true`: the pieces as they come (never cached). */
  async completeStream(
    context: CommandContext,
    organizationId: string,
    request: { prompt?: string | undefined; messages?: ChatMessage[] | undefined; maxTokens?: number | undefined; temperature?: number | undefined },
    started: Parameters<AiService['stream']>[1],
    signal?: AbortSignal,
  ) {
    const { prompt, messages, maxTokens } = await this.completionMessages(request);
    const counter = await this.tokens();
    const promptTokens = counter.chat(messages);
    return this.service.stream(
      {
        context,
        organizationId,
        endpoint: 'complete',
        prompt,
        alias: 'chat',
        tokens: promptTokens + maxTokens,
        promptTokens,
        countCompletion: (text) => counter.text(text),
        open: () =>
          this.router.stream(
            'chat',
            { messages, maxTokens, ...(request.temperature !== undefined ? { temperature: request.temperature } : {}) },
            signal ? { signal } : {},
          ),
      },
      started,
    );
  }

  private async completionMessages(request: { prompt?: string | undefined; messages?: ChatMessage[] | undefined; maxTokens?: number | undefined }) {
    const prompt = this.prompts.get('complete');
    const base = prompt.messages({ prompt: request.prompt ?? '' });
    // The conversation as sent follows the service's own system message.
    const messages = request.messages ? [...base.filter((m) => m.role === 'system'), ...request.messages] : base;
    return { prompt: prompt.id, messages, maxTokens: request.maxTokens ?? ANSWER_TOKENS.complete };
  }

  /** POST /ai/embed: vectors of texts (by the embedding model, of the configured length). */
  async embed(context: CommandContext, organizationId: string, request: { input: string[]; cache?: boolean | undefined }) {
    const tokens = (await this.tokens()).texts(request.input);
    return this.service.run({
      context,
      organizationId,
      endpoint: 'embed',
      prompt: 'embed@v1',
      alias: 'embedding',
      tokens,
      cacheRequest: { input: request.input, dimensions: this.embeddingDimensions },
      cacheWanted: request.cache,
      invoke: () => this.embedding(request.input),
    });
  }

  /** One call to the embedding model (the embedder's too). */
  async embedding(inputs: string[]): Promise<CallOutcome<{ vectors: number[][]; model: string; dimensions: number }>> {
    const answer = await this.router.embed('embedding', inputs, this.embeddingDimensions ? { dimensions: this.embeddingDimensions } : {});
    const dimensions = answer.vectors[0]?.length ?? 0;
    return {
      result: { vectors: answer.vectors, model: answer.model, dimensions },
      served: { ...answer.served, model: answer.model || answer.served.model },
      usage: { promptTokens: answer.usage.promptTokens, completionTokens: 0 },
    };
  }

  /** POST /ai/search: the organization's records nearest in meaning to a query. */
  async search(
    context: CommandContext,
    organizationId: string,
    request: { query: string; kind: string; limit: number; coverage?: boolean | undefined },
  ): Promise<Answered<{ engine: string; matches: VectorMatch[]; coverage: { items: number; embedded: number } | null; model: string }>> {
    const index = this.index;
    const tokens = (await this.tokens()).text(request.query);
    return this.service.run({
      context,
      organizationId,
      endpoint: 'search',
      prompt: 'search@v1',
      alias: 'embedding',
      tokens,
      cacheRequest: null,
      invoke: async () => {
        if (!index) throw new NotFoundError('The embeddings index');
        const embedded = await this.embedding([request.query]);
        const vector = embedded.result.vectors[0]!;
        const model = vectorModelOf(embedded.result.model, vector);
        // Coverage counts every row of the tenant (as long as the search itself over 100,000): only when asked.
        // Counted before the search, not beside it: the search then sees at least every embedding the count
        // did (run side by side, a vector committed between the two was counted and not found).
        const coverage = request.coverage ? await index.coverage(organizationId, request.kind, model) : null;
        const matches = await index.search({ organizationId, kind: request.kind, model, vector, limit: request.limit });
        return { ...embedded, result: { engine: index.engine, matches, coverage, model } };
      },
    });
  }

  /** The contact's fields a prompt names, from its stream; an erased, deleted or foreign contact is not found (and never sent). */
  async contactFor(organizationId: string, contactId: string, fields: readonly string[]): Promise<ContactForAi> {
    const { state } = await this.handler.load<Contact, ContactEvent>(contactStream(contactId), contactDecider);
    if (state.status !== 'active' || state.organizationId !== organizationId) throw new NotFoundError('Contact');
    return { contactId, fields: pickFields(state, fields) };
  }

  /** The contact fields the email prompt names: all that is read of a contact, and sent. */
  emailContactFields(): string[] {
    return this.prompts.get('generate-email').fieldsOf('contact');
  }

  /** POST /ai/generate/email (and the workflow step): a subject and body from instructions, for a contact or none. */
  async generateEmail(
    context: CommandContext,
    organizationId: string,
    request: { instructions: string; tone?: string | undefined; contactId?: string | undefined; cache?: boolean | undefined },
    endpoint: AiEndpoint = 'generate/email',
    known?: ContactForAi,
  ): Promise<Answered<{ subject: string; body: string; contactId: string | null }>> {
    const prompt = this.prompts.get('generate-email');
    const contact = known ?? (request.contactId ? await this.contactFor(organizationId, request.contactId, prompt.fieldsOf('contact')) : null);
    const messages = prompt.messages({ instructions: request.instructions, tone: request.tone, contact: contact?.fields ?? {} });
    const maxTokens = ANSWER_TOKENS['generate/email'];
    const tokens = (await this.tokens()).chat(messages) + maxTokens;
    const contactId = contact?.contactId ?? null;
    return this.chatCall(
      context,
      organizationId,
      endpoint,
      prompt.id,
      messages,
      tokens,
      // Personal: cached only when the request asks, and then for this contact's fields as sent.
      { request: { messages }, wanted: request.cache ?? false },
      // The workflow step's sends are paced by its mailbox's throttles, not the per-minute limit of requests.
      { maxTokens, json: true, rateLimited: endpoint !== 'workflow/ai_compose_email' },
      () => ({ ...composeEmailOffline(request.instructions, contact?.fields ?? {}), contactId }),
      (content) => ({ ...parseJson(endpoint, content, emailAnswer), contactId }),
    );
  }

  /** POST /ai/analyze/sentiment. */
  async analyzeSentiment(context: CommandContext, organizationId: string, request: { text: string; cache?: boolean | undefined }) {
    const prompt = this.prompts.get('analyze-sentiment');
    const messages = prompt.messages({ text: request.text });
    const maxTokens = ANSWER_TOKENS['analyze/sentiment'];
    const tokens = (await this.tokens()).chat(messages) + maxTokens;
    return this.chatCall(
      context,
      organizationId,
      'analyze/sentiment',
      prompt.id,
      messages,
      tokens,
      { request: { text: request.text }, wanted: request.cache },
      { maxTokens, temperature: 0, json: true },
      () => {
        const found = keywordSentiment(request.text);
        return { sentiment: found.label, score: found.score, reasons: found.evidence.slice(0, 3) };
      },
      (content) => parseJson('analyze/sentiment', content, sentimentAnswer),
    );
  }

  /** POST /ai/suggest/workflow-steps: steps for a goal, each valid for its type (invalid suggestions are dropped). */
  async suggestSteps(
    context: CommandContext,
    organizationId: string,
    request: { goal: string; steps: { type: string; name?: string | undefined }[]; count: number; cache?: boolean | undefined },
  ) {
    const prompt = this.prompts.get('suggest-workflow-steps');
    this.catalog ??= stepCatalog();
    const existing = request.steps.length === 0 ? 'none' : request.steps.map((s) => (s.name ? `${s.type} (${s.name})` : s.type)).join(', ');
    const messages = prompt.messages({ catalog: this.catalog, count: request.count, goal: request.goal, existing });
    const maxTokens = ANSWER_TOKENS['suggest/workflow-steps'];
    const tokens = (await this.tokens()).chat(messages) + maxTokens;
    const valid = (steps: { type: string; name?: string | undefined; config: Record<string, unknown>; reason?: string | undefined }[]) => {
      const kept = [];
      let dropped = 0;
      for (const step of steps) {
        if (stepProblems(step.type, step.config) === null)
          kept.push({ type: step.type, name: step.name ?? step.type, config: step.config, reason: step.reason ?? '' });
        else dropped++;
      }
      return { steps: kept.slice(0, request.count), dropped };
    };
    return this.chatCall(
      context,
      organizationId,
      'suggest/workflow-steps',
      prompt.id,
      messages,
      tokens,
      { request: { goal: request.goal, existing, count: request.count }, wanted: request.cache },
      { maxTokens, json: true },
      () =>
        valid(
          suggestStepsOffline(
            request.goal,
            request.steps.map((s) => s.type),
            request.count,
          ),
        ),
      (content) => valid(parseJson('suggest/workflow-steps', content, suggestionsAnswer).steps),
    );
  }

  /**
   * POST /ai/generate/workflow: a sentence to a definition that POST /workflows accepts as is, checked by the
   * workflow engine's own validation before it is returned. A model's answer with problems is sent back to it
   * once with the problems listed (both calls are counted); still invalid, the request fails (502).
   */
  async generateWorkflow(
    context: CommandContext,
    organizationId: string,
    request: { prompt: string; mailbox?: string | undefined; timezone?: string | undefined; cache?: boolean | undefined },
  ) {
    const prompt = this.prompts.get('generate-workflow');
    this.catalog ??= stepCatalog();
    const settings = { timezone: request.timezone ?? 'UTC', mailbox: request.mailbox ?? 'outreach@nexusflow.local' };
    const messages = prompt.messages({ catalog: this.catalog, example: JSON.stringify(exampleWorkflow), prompt: request.prompt, ...settings });
    const maxTokens = ANSWER_TOKENS['generate/workflow'];
    const counter = await this.tokens();
    const tokens = counter.chat(messages) + maxTokens;
    return this.service.run({
      context,
      organizationId,
      endpoint: 'generate/workflow',
      prompt: prompt.id,
      alias: 'chat',
      tokens,
      cacheRequest: { prompt: request.prompt, ...settings },
      cacheWanted: request.cache,
      invoke: async (): Promise<CallOutcome<{ definition: Record<string, unknown>; repaired: boolean }>> => {
        if (this.router.isOffline('chat')) {
          const definition = workflowFromSentenceOffline(request.prompt, settings) as unknown as Record<string, unknown>;
          const problems = workflowProblems(definition);
          if (problems.length > 0) throw new AiInvalidAnswerError('generate/workflow', problems);
          return { result: { definition, repaired: false }, served: this.offlineServed('chat'), usage: OFFLINE_USAGE };
        }
        const usage = { promptTokens: 0, completionTokens: 0 };
        let conversation = messages;
        let served: Served | null = null;
        for (let attempt = 1; ; attempt++) {
          const answer = await this.router.chat('chat', { messages: conversation, maxTokens, responseFormat: 'json' });
          usage.promptTokens += answer.usage.promptTokens;
          usage.completionTokens += answer.usage.completionTokens;
          served = { ...answer.served, model: answer.model || answer.served.model };
          let definition: Record<string, unknown> | null = null;
          let problems: { name: string; reason: string }[];
          try {
            definition = parseJson('generate/workflow', answer.content, z.record(z.string(), z.unknown()));
            problems = workflowProblems(definition);
          } catch (err) {
            if (!(err instanceof AiInvalidAnswerError)) throw err;
            problems = err.problems;
          }
          if (definition && problems.length === 0) return { result: { definition, repaired: attempt > 1 }, served, usage };
          if (attempt >= 2) throw new AiInvalidAnswerError('generate/workflow', problems);
          conversation = [
            ...messages,
            { role: 'assistant', content: answer.content },
            {
              role: 'user',
              content: `That definition has problems: ${problems.map((p) => `${p.name} ${p.reason}`).join('; ')}. Answer with the corrected JSON object only.`,
            },
          ];
        }
      },
    });
  }

  /** GET /ai/models: the routing table (aliases, each provider and model in order) and the primary's own list. */
  models() {
    return this.router.aliases().map((alias) => ({ alias, targets: this.router.targetsOf(alias) }));
  }
}

/** What POST /workflows would say of a definition: its body schema, the text rule, then the engine's validation. */
export function workflowProblems(definition: Record<string, unknown>): { name: string; reason: string }[] {
  const parsed = workflowBody.safeParse(definition);
  if (!parsed.success) {
    return parsed.error.issues.map((issue) => ({
      name: issue.path.join('.') || 'definition',
      reason: issue.code === 'unrecognized_keys' ? `has unknown fields ${issue.keys.join(', ')}` : issue.message,
    }));
  }
  const text = textProblemsIn(definition, new FreeTextFields(workflowFreeText));
  if (text.length > 0) return text.map((problem) => ({ name: problem.name, reason: problem.reason }));
  const { name: _name, description: _description, ...rest } = parsed.data;
  const validated = validateDefinition(rest);
  return 'problems' in validated ? validated.problems : [];
}
