import { expect } from 'chai';
import OpenAI, { type BadRequestError, type NotFoundError, type RateLimitError } from 'openai';
import { chatPromptTokens, countTokens, fakeEmbedding, FakeOpenAI } from './fake-openai.ts';

describe('FakeOpenAI, driven by the openai library', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeEach(async () => {
    fake = await FakeOpenAI.start({ apiKey: 'sk-test-fake', models: ['gpt-4o-mini', 'text-embedding-3-small'] });
    client = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'sk-test-fake', maxRetries: 0 });
  });

  afterEach(() => fake.close());

  describe('chat completions', () => {
    it('answers a completion with usage counted by the documented rule', async () => {
      const messages = [
        { role: 'system' as const, content: 'You write short emails.' },
        { role: 'user' as const, content: 'Thank Ada for the meeting.' },
      ];
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });

      expect(completion.object).to.equal('chat.completion');
      expect(completion.model).to.equal('gpt-4o-mini');
      expect(completion.choices[0]!.message).to.include({ role: 'assistant', content: 'echo: Thank Ada for the meeting.' });
      expect(completion.choices[0]!.finish_reason).to.equal('stop');
      // 3 priming + (3 + 5) + (3 + 6) prompt tokens; "echo : Thank Ada for the meeting ." is 8.
      expect(completion.usage).to.include({ prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 });
      expect(chatPromptTokens(messages)).to.equal(20);
      expect(fake.requests[0]).to.deep.include({ method: 'POST', path: '/v1/chat/completions' });
      expect(fake.requests[0]!.headers.authorization).to.equal('Bearer sk-test-fake');
      expect(fake.requests[0]!.body).to.deep.include({ model: 'gpt-4o-mini', messages });
    });

    it('answers scripted replies for a model in order, then the default again', async () => {
      fake.script('gpt-4o-mini', 'first', { content: 'second', finishReason: 'length', completionTokens: 99 });
      const ask = () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

      const first = await ask();
      const second = await ask();
      const third = await ask();

      expect(first.choices[0]!.message.content).to.equal('first');
      expect(second.choices[0]!.message.content).to.equal('second');
      expect(second.choices[0]!.finish_reason).to.equal('length');
      expect(second.usage!.completion_tokens).to.equal(99);
      expect(third.choices[0]!.message.content).to.equal('echo: hi');
    });

    it('answers with the responder when nothing is scripted, text parts counted like strings', async () => {
      fake.respond((request) => `${request.messages.length} messages to ${request.model}`);

      const completion = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: [{ type: 'text', text: 'two words' }] }],
      });

      expect(completion.choices[0]!.message.content).to.equal('1 messages to gpt-4o-mini');
      expect(completion.usage!.prompt_tokens).to.equal(3 + 3 + 2);
    });

    it('streams chunks and, with include_usage, a last chunk with no choices carrying the usage', async () => {
      fake.script('gpt-4o-mini', 'Hello Ada, thanks again.');
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say hello' }],
        stream: true,
        stream_options: { include_usage: true },
      });

      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);

      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      expect(text).to.equal('Hello Ada, thanks again.');
      expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).to.equal(true);
      expect(chunks[0]!.choices[0]!.delta.role).to.equal('assistant');
      const last = chunks.at(-1)!;
      expect(last.choices).to.deep.equal([]);
      expect(last.usage).to.include({ prompt_tokens: 3 + 3 + 2, completion_tokens: countTokens('Hello Ada, thanks again.'), total_tokens: 8 + 6 });
      expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).to.equal(true);
      expect(chunks.at(-2)!.choices[0]!.finish_reason).to.equal('stop');
    });

    it('streams without a usage chunk when include_usage is not asked', async () => {
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a b' }], stream: true });

      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      for await (const chunk of stream) chunks.push(chunk);

      expect(chunks.every((chunk) => chunk.choices.length === 1 && chunk.usage === undefined)).to.equal(true);
      expect(fake.usages).to.have.length(1);
    });

    it('cuts a stream when told to, before its usage chunk', async () => {
      fake.script('gpt-4o-mini', 'one two three four');
      fake.interruptNextStream(2);
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'count' }],
        stream: true,
        stream_options: { include_usage: true },
      });

      const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
      const consume = async () => {
        for await (const chunk of stream) chunks.push(chunk);
      };

      const error = await consume().catch((e: unknown) => e);

      expect(error).to.be.instanceOf(Error);
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).to.equal('one two');
      expect(chunks.some((chunk) => chunk.usage)).to.equal(false);
      expect(fake.usages[0]!.usage.completion_tokens).to.equal(4);
    });
  });

  describe('embeddings', () => {
    it('answers floats when asked, deterministic and of unit length', async () => {
      const answer = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['Ada Lovelace', 'Ada'], encoding_format: 'float' });

      expect(answer.object).to.equal('list');
      expect(answer.model).to.equal('text-embedding-3-small');
      expect(answer.usage).to.deep.equal({ prompt_tokens: 3, total_tokens: 3 });
      expect(answer.data.map((item) => [item.object, item.index])).to.deep.equal([
        ['embedding', 0],
        ['embedding', 1],
      ]);
      const [both, one] = answer.data.map((item) => item.embedding);
      expect(both).to.have.length(1536);
      expect(both).to.deep.equal(fakeEmbedding('Ada Lovelace'));
      expect(Math.hypot(...both!)).to.be.closeTo(1, 1e-6);
      // Sharing a word makes two texts close, as a similarity search needs.
      expect(cosine(both!, one!)).to.be.closeTo(Math.SQRT1_2, 1e-6);
    });

    it('answers base64 float32, which the library asks for by default and decodes to the same numbers', async () => {
      const answer = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'Ada Lovelace', dimensions: 64 });

      expect((fake.requests[0]!.body as { encoding_format?: string }).encoding_format).to.equal('base64');
      expect(answer.data[0]!.embedding).to.deep.equal(fakeEmbedding('Ada Lovelace', 64));
    });

    it('refuses more dimensions than the model has', async () => {
      const error = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', dimensions: 5000 }).catch((e: unknown) => e);

      expect(error).to.be.instanceOf(OpenAI.BadRequestError);
      expect((error as BadRequestError).param).to.equal('dimensions');
    });
  });

  describe('models', () => {
    it('lists and retrieves the configured models', async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      const one = await client.models.retrieve('gpt-4o-mini');

      expect(ids).to.deep.equal(['gpt-4o-mini', 'text-embedding-3-small']);
      expect(one).to.include({ id: 'gpt-4o-mini', object: 'model' });
    });

    it('answers 404 model_not_found for a model it does not serve', async () => {
      const error = await client.chat.completions.create({ model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);

      expect(error).to.be.instanceOf(OpenAI.NotFoundError);
      expect((error as NotFoundError).code).to.equal('model_not_found');
    });
  });

  describe('errors', () => {
    it('answers 401 invalid_api_key to a wrong key', async () => {
      const wrong = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'sk-wrong-key-123', maxRetries: 0 });

      const error = await wrong.models.list().catch((e: unknown) => e);

      expect(error).to.be.instanceOf(OpenAI.AuthenticationError);
      expect(error).to.include({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
    });

    it('answers 400 with the parameter to a request without messages or model', async () => {
      const noMessages = await client.chat.completions
        .create({ model: 'gpt-4o-mini' } as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming)
        .catch((e: unknown) => e);
      const noModel = await client.chat.completions
        .create({ messages: [{ role: 'user', content: 'hi' }] } as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming)
        .catch((e: unknown) => e);

      expect(noMessages).to.be.instanceOf(OpenAI.BadRequestError);
      expect(noMessages).to.include({ status: 400, param: 'messages', code: 'missing_required_parameter' });
      expect(noModel).to.be.instanceOf(OpenAI.BadRequestError);
      expect((noModel as BadRequestError).message).to.contain('you must provide a model parameter');
    });

    it('answers 429 with Retry-After and retry-after-ms, then serves again', async () => {
      fake.rateLimitNext(7);

      const error = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      const after = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

      expect(error).to.be.instanceOf(OpenAI.RateLimitError);
      const limited = error as RateLimitError;
      expect(limited).to.include({ status: 429, code: 'rate_limit_exceeded' });
      expect(limited.headers.get('retry-after')).to.equal('7');
      expect(limited.headers.get('retry-after-ms')).to.equal('7000');
      expect(after.choices[0]!.message.content).to.equal('echo: hi');
    });

    it('fails the next requests with the status asked, then serves again', async () => {
      fake.failNext(503);
      fake.failNext(500, 1);

      const overloaded = await client.models.retrieve('gpt-4o-mini').catch((e: unknown) => e);
      const broken = await client.models.retrieve('gpt-4o-mini').catch((e: unknown) => e);
      const served = await client.models.retrieve('gpt-4o-mini');

      expect(overloaded).to.be.instanceOf(OpenAI.InternalServerError);
      expect(overloaded).to.include({ status: 503, type: 'server_error' });
      expect(broken).to.include({ status: 500, type: 'server_error' });
      expect(served.id).to.equal('gpt-4o-mini');
    });

    it('holds an answer back so the client times out', async () => {
      fake.delayNext(10_000);
      const impatient = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'sk-test-fake', maxRetries: 0, timeout: 100 });

      const error = await impatient.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);

      expect(error).to.be.instanceOf(OpenAI.APIConnectionTimeoutError);
      expect(fake.requests).to.have.length(1);
    });
  });

  it('records what was sent, so a test can tell some text never left', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Write to the customer' }] });

    expect(fake.sentText()).to.contain('Write to the customer');
    expect(fake.sentText()).not.to.contain('ada@example.com');
  });
});

function cosine(a: number[], b: number[]): number {
  return a.reduce((sum, value, index) => sum + value * b[index]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
}
