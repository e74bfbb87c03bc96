import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * OpenAI as the `openai` library sees it, on a loopback port: chat completions (plain, and streamed as Server-Sent
 * Events of `chat.completion.chunk` objects with the usage-only last chunk of `stream_options.include_usage`),
 * embeddings (float or base64 float32 little-endian; the library asks for base64 unless told otherwise and decodes
 * it), the model list, and OpenAI's error body `{ error: { message, type, param, code } }` for 401, 400, 404,
 * 429 (with Retry-After and retry-after-ms, which the library reads) and 5xx.
 *
 * Answers are deterministic so tests can predict them:
 * - a reply is the next one scripted for the model ({@link FakeOpenAI.script}), else {@link FakeOpenAI.respond}'s
 *   function, else `echo: ` and the last user message;
 * - tokens are counted by {@link countTokens} (a word or a number is one token, each other non-space character is
 *   one); a chat request's prompt tokens are {@link chatPromptTokens} (OpenAI's cookbook overhead of 3 per message
 *   and 3 for the reply's priming), completion tokens are the reply's tokens;
 * - an embedding is {@link fakeEmbedding}: feature hashing of the lowercased words, so texts sharing words are close
 *   in cosine (a search over them finds something), unit length as OpenAI's are.
 *
 * Where OpenAI leaves a behaviour open the fake picks a reading and says so:
 * - with `models` given, any other model answers 404 `model_not_found`; without it every model is served;
 * - steering applies to the next requests whatever their path; `delayNext` holds a request back before anything
 *   else, `failNext` and `rateLimitNext` apply after the key is checked (a wrong key is a 401 even when a failure
 *   is queued, and does not use the failure up);
 * - `n`, tools and `max_tokens` are not acted out: one choice, plain text, never cut (script `finishReason:
 *   'length'` to act out a cut reply).
 */
export class FakeOpenAI {
  readonly apiKey: string;
  /** The models served; null serves any model. */
  readonly models: readonly string[] | null;
  /** The length of an embedding when the request does not ask for fewer `dimensions`. */
  readonly embeddingDimensions: number;
  /** Every request as received, in order (recorded before any steering applies). */
  readonly requests: FakeOpenAIRequest[] = [];
  /** Every usage the fake answered (streamed ones included, even if the stream was interrupted before it). */
  readonly usages: { path: string; model: string; usage: Usage }[] = [];
  private readonly scripted = new Map<string, ScriptedReply[]>();
  private responder: ((request: ChatRequest) => string) | null = null;
  private faults: Fault[] = [];
  private delays: number[] = [];
  private interruptAfter: number | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private sequence = 0;

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    options: FakeOpenAIOptions,
  ) {
    this.apiKey = options.apiKey ?? `sk-test-${randomBytes(12).toString('hex')}`;
    this.models = options.models ?? null;
    this.embeddingDimensions = options.embeddingDimensions ?? 1536;
  }

  static async start(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
    const server = createServer();
    const fake = new FakeOpenAI(server, options);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `baseURL` for `new OpenAI(...)` (and OPENAI_BASE_URL): the library appends `/chat/completions` etc. to it. */
  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The next chat completions for `model` answer these replies, in order, before the default applies again. */
  script(model: string, ...replies: (string | ScriptedReply)[]): void {
    const queue = this.scripted.get(model) ?? [];
    queue.push(...replies.map((reply) => (typeof reply === 'string' ? { content: reply } : reply)));
    this.scripted.set(model, queue);
  }

  /** Replaces the default reply (used when nothing is scripted for the model); null restores `echo: …`. */
  respond(responder: ((request: ChatRequest) => string) | null): void {
    this.responder = responder;
  }

  /** The next `times` requests answer this status (500, 502, 503, …) with OpenAI's server-error body. */
  failNext(status: number, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ status });
  }

  /** The next `times` requests answer 429 `rate_limit_exceeded` with Retry-After (seconds) and retry-after-ms. */
  rateLimitNext(retryAfterSeconds: number, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ status: 429, retryAfterSeconds });
  }

  /** The next `times` requests wait this long before answering anything (headers included), to make clients time out. */
  delayNext(ms: number, times = 1): void {
    for (let i = 0; i < times; i++) this.delays.push(ms);
  }

  /**
   * The next streamed completion drops its connection after this many content chunks, before the finish and usage
   * chunks: what a client sees when a stream is cut (OpenAI warns the usage chunk may then never come).
   */
  interruptNextStream(afterContentChunks: number): void {
    this.interruptAfter = afterContentChunks;
  }

  /** Everything sent to the provider as one string, for assertions that some text (personal data) was never sent. */
  sentText(): string {
    return this.requests.map((request) => JSON.stringify(request.body ?? null)).join('\n');
  }

  // --- the wire ---

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://openai.test');
    const method = req.method ?? 'GET';
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = null;
    let unparsable = false;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        unparsable = true;
      }
    }
    this.requests.push({ method, path: url.pathname, headers: req.headers, body });

    const delay = this.delays.shift();
    if (delay !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, delay);
        this.timers.add(timer);
      });
      // The client gave up (its timeout) while we waited: nobody is left to answer.
      if (res.destroyed || req.socket.destroyed) return;
    }

    try {
      this.authorize(req.headers.authorization);
      const fault = this.faults.shift();
      if (fault) throw faultError(fault);
      if (unparsable)
        throw new OpenAIFault(
          400,
          'We could not parse the JSON body of your request. (HINT: This likely means you aren’t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)',
        );
      this.route(method, url.pathname, body, res);
    } catch (error) {
      if (!(error instanceof OpenAIFault)) throw error;
      this.answer(res, error.status, { error: { message: error.message, type: error.type, param: error.param, code: error.code } }, error.headers);
    }
  }

  private authorize(authorization: string | undefined): void {
    if (!authorization?.startsWith('Bearer '))
      throw new OpenAIFault(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    const key = authorization.slice('Bearer '.length);
    if (key !== this.apiKey)
      throw new OpenAIFault(
        401,
        `Incorrect API key provided: ${redact(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        'invalid_request_error',
        null,
        'invalid_api_key',
      );
  }

  private route(method: string, path: string, body: unknown, res: ServerResponse): void {
    if (method === 'POST' && path === '/v1/chat/completions') return this.chat(asObject(body), res);
    if (method === 'POST' && path === '/v1/embeddings') return this.answer(res, 200, this.embed(asObject(body)));
    if (method === 'GET' && path === '/v1/models') {
      return this.answer(res, 200, { object: 'list', data: (this.models ?? DEFAULT_MODELS).map(modelObject) });
    }
    const retrieve = /^\/v1\/models\/(.+)$/.exec(path);
    if (method === 'GET' && retrieve) {
      const id = decodeURIComponent(retrieve[1]!);
      this.mustServe(id);
      return this.answer(res, 200, modelObject(id));
    }
    throw new OpenAIFault(404, `Invalid URL (${method} ${path})`);
  }

  private chat(body: Record<string, unknown>, res: ServerResponse): void {
    const model = this.modelOf(body);
    const messages = body.messages;
    if (messages === undefined)
      throw new OpenAIFault(400, "Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter');
    if (!Array.isArray(messages) || messages.length === 0)
      throw new OpenAIFault(
        400,
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        'invalid_request_error',
        'messages',
        'empty_array',
      );
    for (const [index, message] of messages.entries()) {
      const role = (message as { role?: unknown } | null)?.role;
      if (!['system', 'developer', 'user', 'assistant', 'tool', 'function'].includes(role as string))
        throw new OpenAIFault(
          400,
          `Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
          'invalid_request_error',
          `messages[${index}].role`,
          'invalid_value',
        );
    }
    const request: ChatRequest = { model, messages: messages as ChatMessage[], body };
    const reply = this.scripted.get(model)?.shift() ?? { content: this.responder ? this.responder(request) : defaultReply(request.messages) };
    const usage: Usage = {
      prompt_tokens: reply.promptTokens ?? chatPromptTokens(request.messages),
      completion_tokens: reply.completionTokens ?? countTokens(reply.content),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-${this.nextId()}`;
    const created = Math.floor(Date.now() / 1000);
    const finishReason = reply.finishReason ?? 'stop';
    if (body.stream === true) return this.stream(res, { id, created, model, content: reply.content, finishReason, usage, body });
    this.usages.push({ path: '/v1/chat/completions', model, usage });
    this.answer(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reply.content, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: finishReason,
        },
      ],
      usage: usageDetails(usage),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    });
  }

  /**
   * OpenAI's stream: a first chunk with the role, one chunk per piece of content, a chunk with the finish reason and
   * an empty delta, then (with `include_usage`) a chunk with no choices carrying the usage, every earlier chunk
   * saying `usage: null`; then `data: [DONE]`.
   */
  private stream(
    res: ServerResponse,
    reply: { id: string; created: number; model: string; content: string; finishReason: string; usage: Usage; body: Record<string, unknown> },
  ): void {
    const includeUsage = (reply.body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const chunk = (choices: unknown[], usage?: Usage) => ({
      id: reply.id,
      object: 'chat.completion.chunk',
      created: reply.created,
      model: reply.model,
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices,
      ...(includeUsage ? { usage: usage ? usageDetails(usage) : null } : {}),
    });
    const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...this.commonHeaders() });
    send(chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
    // The usage is the provider's to count whatever happens to the stream afterwards; record it now.
    this.usages.push({ path: '/v1/chat/completions', model: reply.model, usage: reply.usage });
    const pieces = reply.content.match(/\s*\S+/g) ?? [];
    const interruptAfter = this.interruptAfter;
    this.interruptAfter = null;
    for (const piece of pieces.slice(0, interruptAfter ?? pieces.length)) {
      send(chunk([{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]));
    }
    if (interruptAfter !== null) {
      // Cut only once what was written has left, so the client sees the first chunks and then a dropped connection.
      res.write('', () => res.destroy());
      return;
    }
    send(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: reply.finishReason }]));
    if (includeUsage) send(chunk([], reply.usage));
    res.end('data: [DONE]\n\n');
  }

  private embed(body: Record<string, unknown>): unknown {
    const model = this.modelOf(body);
    const input = body.input;
    if (input === undefined)
      throw new OpenAIFault(400, "Missing required parameter: 'input'.", 'invalid_request_error', 'input', 'missing_required_parameter');
    const inputs = Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? (input as unknown[]) : [input];
    if (inputs.some((one) => !(typeof one === 'string' && one !== '') && !(Array.isArray(one) && one.length > 0 && one.every(Number.isInteger))))
      throw new OpenAIFault(
        400,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        'invalid_request_error',
        null,
        null,
      );
    const dimensions = body.dimensions ?? this.embeddingDimensions;
    if (!Number.isInteger(dimensions) || (dimensions as number) < 1 || (dimensions as number) > this.embeddingDimensions)
      throw new OpenAIFault(
        400,
        `Invalid 'dimensions': must be an integer between 1 and ${this.embeddingDimensions}.`,
        'invalid_request_error',
        'dimensions',
        'invalid_value',
      );
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64')
      throw new OpenAIFault(
        400,
        `Invalid value: '${String(format)}'. Supported values are: 'float' and 'base64'.`,
        'invalid_request_error',
        'encoding_format',
        'invalid_value',
      );
    let tokens = 0;
    const data = inputs.map((one, index) => {
      // A token array is embedded as its numbers written out: still deterministic, and its length is its token count.
      const text = typeof one === 'string' ? one : (one as number[]).join(' ');
      tokens += typeof one === 'string' ? countTokens(one) : (one as number[]).length;
      const vector = fakeEmbedding(text, dimensions as number);
      return { object: 'embedding', index, embedding: format === 'base64' ? float32Base64(vector) : vector };
    });
    const usage: Usage = { prompt_tokens: tokens, completion_tokens: 0, total_tokens: tokens };
    this.usages.push({ path: '/v1/embeddings', model, usage });
    return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  private modelOf(body: Record<string, unknown>): string {
    // OpenAI's own wording for a request without a model.
    if (typeof body.model !== 'string' || body.model === '') throw new OpenAIFault(400, 'you must provide a model parameter');
    this.mustServe(body.model);
    return body.model;
  }

  private mustServe(model: string): void {
    if (this.models && !this.models.includes(model))
      throw new OpenAIFault(
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        null,
        'model_not_found',
      );
  }

  private answer(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...this.commonHeaders(), ...headers });
    res.end(JSON.stringify(payload));
  }

  private commonHeaders(): Record<string, string> {
    return { 'x-request-id': `req_${randomBytes(16).toString('hex')}`, 'openai-processing-ms': '1', 'openai-version': '2020-10-01' };
  }

  private nextId(): string {
    this.sequence += 1;
    return `fake${String(this.sequence).padStart(6, '0')}${randomBytes(4).toString('hex')}`;
  }
}

export interface FakeOpenAIOptions {
  /** The key the server accepts as `Authorization: Bearer …`; a random `sk-test-…` when absent. */
  apiKey?: string;
  /** The models served (others answer 404 `model_not_found`); absent, every model is served. */
  models?: string[];
  /** Embedding length when the request asks for no `dimensions`; 1536 (text-embedding-3-small's) when absent. */
  embeddingDimensions?: number;
}

export interface FakeOpenAIRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; null for GET or a body that is not JSON. */
  body: unknown;
}

export interface ScriptedReply {
  content: string;
  /** `stop` when absent; `length` to act out a reply cut at `max_tokens`. */
  finishReason?: 'stop' | 'length' | 'content_filter';
  /** Overrides the counted prompt tokens (e.g. to cross a budget with a short prompt). */
  promptTokens?: number;
  /** Overrides the counted completion tokens. */
  completionTokens?: number;
}

export interface ChatMessage {
  role: string;
  content?: string | { type: string; text?: string }[] | null;
  name?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  /** The whole request body (temperature, response_format, …). */
  body: Record<string, unknown>;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The fake's tokenizer: each run of letters or digits is one token, each other non-space character is one token. */
export function countTokens(text: string): number {
  return text.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)?.length ?? 0;
}

/** Prompt tokens of a chat request: 3 per message plus its content's tokens (and its name's), plus 3 priming the reply. */
export function chatPromptTokens(messages: ChatMessage[]): number {
  return messages.reduce((sum, message) => sum + 3 + countTokens(textOf(message)) + (message.name ? countTokens(message.name) : 0), 3);
}

/**
 * The fake's embedding of a text: each lowercased word adds ±1 to a bucket chosen by its hash (feature hashing),
 * then the vector is scaled to unit length. A text without words is hashed whole, so no vector is zero.
 */
export function fakeEmbedding(text: string, dimensions = 1536): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text];
  for (const word of words) {
    const digest = createHash('sha256').update(word).digest();
    vector[digest.readUInt32LE(0) % dimensions]! += digest[4]! & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector) || 1;
  // Rounded through float32 so the float and base64 answers carry the same numbers.
  return vector.map((value) => Math.fround(value / norm));
}

/** The default reply: `echo: ` and the last user message's text, so a test sees what the model was given. */
function defaultReply(messages: ChatMessage[]): string {
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  return `echo: ${lastUser ? textOf(lastUser) : ''}`;
}

function textOf(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  if (Array.isArray(message.content)) return message.content.map((part) => (part.type === 'text' ? (part.text ?? '') : '')).join(' ');
  return '';
}

function float32Base64(vector: number[]): string {
  const buffer = Buffer.alloc(vector.length * 4);
  // OpenAI's base64 embeddings are float32 little-endian, whatever the machine's byte order.
  vector.forEach((value, index) => buffer.writeFloatLE(value, index * 4));
  return buffer.toString('base64');
}

function usageDetails(usage: Usage) {
  return {
    ...usage,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function modelObject(id: string) {
  return { id, object: 'model', created: 1_700_000_000, owned_by: id.startsWith('text-embedding') ? 'openai-internal' : 'system' };
}

function asObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new OpenAIFault(400, 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

function redact(key: string): string {
  return key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : '***';
}

function faultError(fault: Fault): OpenAIFault {
  if (fault.status === 429) {
    const seconds = fault.retryAfterSeconds ?? 1;
    return new OpenAIFault(429, `Rate limit reached for requests. Please try again in ${seconds}s.`, 'requests', null, 'rate_limit_exceeded', {
      'retry-after': String(Math.ceil(seconds)),
      'retry-after-ms': String(Math.round(seconds * 1000)),
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': `${seconds}s`,
    });
  }
  if (fault.status === 503) return new OpenAIFault(503, 'The engine is currently overloaded, please try again later.', 'server_error');
  return new OpenAIFault(fault.status, 'The server had an error while processing your request. Sorry about that!', 'server_error');
}

interface Fault {
  status: number;
  retryAfterSeconds?: number;
}

const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'text-embedding-3-large'];
const SYSTEM_FINGERPRINT = 'fp_fake0001';

class OpenAIFault extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
