import { retrying, type RetryPolicy } from '../../infra/retry.ts';
import {
  AiProviderUnavailable,
  type AiProvider,
  type CallOptions,
  type ChatAnswer,
  type ChatChunk,
  type ChatRequest,
  type EmbedAnswer,
  type EmbedOptions,
} from './ports.ts';

/** Where a model alias is served: its targets in order, the first the primary, the others fallbacks. */
export interface AiRoute {
  alias: string;
  targets: { provider: AiProvider; model: string }[];
}

export interface RouterOptions {
  /** Tries per target before the next one (AiProviderUnavailable only; a refusal is final). */
  retry: RetryPolicy;
  /** How long a provider that failed its tries is skipped (unless it is the route's last hope). */
  cooldownMs: number;
  timeoutMs: number;
  now?: () => number;
}

/** Which target answered, for the answer's labels and the usage event. */
export interface Served {
  provider: string;
  model: string;
  /** True when the primary could not answer and a fallback did. */
  fellBack: boolean;
  offline: boolean;
}

/**
 * The AI service's routing table: a model alias (`default`, `embedding`, …) to its primary and fallbacks,
 * each an OpenAI-compatible provider with its own base URL and key. A call tries the primary (twice, with a
 * pause, when it answers 5xx or 429 or times out), then each fallback; a provider that failed is cooled down
 * (skipped) for `cooldownMs`, so a broken provider does not cost every request its timeout. A request the
 * provider refused (4xx) is not tried elsewhere: it would be refused again.
 */
export class AiRouter {
  private readonly cooling = new Map<string, number>();

  constructor(
    private readonly routes: ReadonlyMap<string, AiRoute>,
    private readonly options: RouterOptions,
  ) {}

  aliases(): string[] {
    return [...this.routes.keys()];
  }

  chat(alias: string, request: Omit<ChatRequest, 'model'>, options: CallOptions = {}): Promise<ChatAnswer & { served: Served }> {
    return this.route(alias, async (provider, model) => provider.chat({ ...request, model }, this.callOptions(options)));
  }

  embed(alias: string, inputs: string[], options: EmbedOptions = {}): Promise<EmbedAnswer & { served: Served }> {
    return this.route(alias, (provider, model) => provider.embed(inputs, model, this.callOptions(options)));
  }

  /** True when every target of the alias is the offline provider (no key configured). */
  isOffline(alias: string): boolean {
    return this.routeOf(alias).targets.every((target) => target.provider.offline);
  }

  /** The targets of an alias, in order (GET /ai/models). */
  targetsOf(alias: string): { provider: string; model: string; offline: boolean }[] {
    return this.routeOf(alias).targets.map((target) => ({ provider: target.provider.name, model: target.model, offline: target.provider.offline }));
  }

  /**
   * A streamed chat: the first target that gives a first chunk serves the whole stream. A target that fails
   * before its first chunk (5xx, 429, timeout) is retried and then left for the next, as for a plain call;
   * once text has gone out to the client the stream cannot move to another model, and a failure ends it.
   */
  async stream(
    alias: string,
    request: Omit<ChatRequest, 'model'>,
    options: CallOptions = {},
  ): Promise<{ served: Served; chunks: AsyncIterable<ChatChunk> }> {
    return this.route(alias, async (provider, model) => {
      const iterator = provider.chatStream({ ...request, model }, this.callOptions(options))[Symbol.asyncIterator]();
      const first = await iterator.next();
      async function* chunks(): AsyncIterable<ChatChunk> {
        try {
          if (first.done) return;
          yield first.value;
          for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
        } finally {
          // A consumer that stopped early (the client went away) closes the provider's stream too.
          await iterator.return?.();
        }
      }
      return { chunks: chunks() };
    });
  }

  /** The target a streamed call starts on (a stream is not moved to a fallback once it has begun). */
  async streamTarget(alias: string): Promise<{ provider: AiProvider; model: string; served: Served }> {
    const route = this.routeOf(alias);
    const target = this.available(route)[0]!;
    return { ...target, served: this.served(route, target) };
  }

  private async route<T>(alias: string, call: (provider: AiProvider, model: string) => Promise<T>): Promise<T & { served: Served }> {
    const route = this.routeOf(alias);
    let last: unknown = null;
    for (const target of this.available(route)) {
      try {
        const answer = await retrying(this.options.retry, () => call(target.provider, target.model), {
          retryIf: (err) => err instanceof AiProviderUnavailable,
        });
        this.cooling.delete(target.provider.name);
        return { ...answer, served: this.served(route, target) };
      } catch (err) {
        if (!(err instanceof AiProviderUnavailable)) throw err;
        last = err;
        this.cooling.set(target.provider.name, this.now() + this.options.cooldownMs);
      }
    }
    throw last;
  }

  /** The route's targets not cooling down, in order; all of them when every one is (better a try than none). */
  private available(route: AiRoute): AiRoute['targets'] {
    const now = this.now();
    const warm = route.targets.filter((target) => (this.cooling.get(target.provider.name) ?? 0) <= now);
    return warm.length > 0 ? warm : route.targets;
  }

  private routeOf(alias: string): AiRoute {
    const route = this.routes.get(alias);
    if (!route || route.targets.length === 0) throw new Error(`no AI route named ${alias}`);
    return route;
  }

  private served(route: AiRoute, target: AiRoute['targets'][number]): Served {
    return {
      provider: target.provider.name,
      model: target.model,
      fellBack: target !== route.targets[0],
      offline: target.provider.offline,
    };
  }

  private callOptions<O extends CallOptions>(options: O): O {
    return { timeoutMs: this.options.timeoutMs, ...options };
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}
