// The HTTP server: routing, the API key, health, the chat page, and a clean shutdown.
//   GET  /                      the web chat page (one static file)
//   GET  /health                {status, model, slots: {total, busy}, queue: {waiting, max}, ...}
//   GET  /v1/models[/ID]        the one model served
//   POST /v1/chat/completions   chat (streamed with "stream": true)
//   POST /v1/completions        raw text completion
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { handleChat } from './chat.js';
import { handleCompletion } from './completions.js';
import { ApiError, asApiError } from './errors.js';
import { readJsonBody, sendError, sendJson } from './http-util.js';
import { ActiveSet } from './respond.js';
import type { ModelService } from './service.js';

/** The chat page, kept in the source tree as is (no build step); dist/src/server -> src/server. */
export const PAGE_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/server/page.html');

export interface ServerOptions {
  /** Requests to /v1/ need `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string | undefined;
  /** Largest accepted request body, bytes. */
  bodyLimit?: number;
  /** One line per request and per error (e.g. process.stderr); silent when absent. */
  log?: (line: string) => void;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export class PanguServer {
  readonly http: http.Server;
  readonly active = new ActiveSet();
  private readonly page: Buffer;
  private readonly bodyLimit: number;
  private readonly routes: Record<string, Record<string, Handler>>;

  constructor(readonly service: ModelService, private readonly opts: ServerOptions = {}) {
    this.page = fs.readFileSync(PAGE_FILE);
    this.bodyLimit = opts.bodyLimit ?? 4 << 20;
    this.routes = {
      '/': { GET: (_req, res) => this.sendPage(res) },
      '/index.html': { GET: (_req, res) => this.sendPage(res) },
      '/health': { GET: (_req, res) => sendJson(res, 200, this.health()) },
      '/v1/models': { GET: (_req, res) => sendJson(res, 200, { object: 'list', data: [this.modelCard()] }) },
      '/v1/chat/completions': { POST: async (req, res) => handleChat(res, await this.body(req), service, this.active) },
      '/v1/completions': { POST: async (req, res) => handleCompletion(res, await this.body(req), service, this.active) },
    };
    this.http = http.createServer((req, res) => { void this.handle(req, res); });
  }

  /** Listens on host:port (port 0 picks a free one); resolves with the address. */
  listen(port: number, host: string): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        const a = this.http.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}` });
      });
    });
  }

  /**
   * Stops accepting connections, ends every generation (streams get an error event and
   * [DONE], waiting requests a 503) and resolves once the connections are closed.
   */
  async close(graceMs = 2000): Promise<void> {
    this.active.closeAll();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const timer = setTimeout(() => this.http.closeAllConnections(), graceMs);
    // Responses finish on the next turns; then their keep-alive sockets are idle.
    const idle = setInterval(() => this.http.closeIdleConnections(), 50);
    try {
      await closed;
    } finally {
      clearTimeout(timer);
      clearInterval(idle);
    }
  }

  health(): Record<string, unknown> {
    const s = this.service.scheduler.stats();
    return {
      status: this.active.closing ? 'shutting_down' : 'ok',
      model: this.service.id,
      slots: { total: s.slots, busy: s.busy },
      queue: { waiting: s.queued, max: s.maxQueue },
      context_length: s.contextLength,
      totals: { requests: s.requests, prompt_tokens: s.promptTokens, cached_prompt_tokens: s.cachedTokens, generated_tokens: s.generatedTokens, batches: s.steps },
    };
  }

  private modelCard(): Record<string, unknown> {
    return { id: this.service.id, object: 'model', created: this.service.created, owned_by: 'pangu-ts', context_length: this.service.contextLength };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now();
    res.on('error', () => { /* a client that went away; nothing to tell it */ });
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname.startsWith('/v1/')) this.authorize(req);
      const route = this.routes[url.pathname] ?? this.dynamicRoute(url.pathname);
      if (!route) throw new ApiError(404, `no such endpoint: ${req.method} ${url.pathname}`, 'invalid_request_error', null, 'not_found');
      const handler = route[req.method ?? 'GET'];
      if (!handler) {
        throw new ApiError(405, `${url.pathname} takes ${Object.keys(route).join(', ')}, not ${req.method}`, 'invalid_request_error', null, 'method_not_allowed');
      }
      await handler(req, res);
    } catch (e) {
      const err = asApiError(e);
      if (err.status >= 500) this.opts.log?.(`error: ${req.method} ${url.pathname}: ${(e as Error).stack ?? err.message}`);
      const headers: Record<string, string> = {};
      if (err.status === 401) headers['WWW-Authenticate'] = 'Bearer';
      if (err.status === 429) headers['Retry-After'] = '1';
      if (err.status === 413) headers['Connection'] = 'close'; // the rest of the body is not read
      sendError(res, err, headers);
    } finally {
      this.opts.log?.(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms`);
    }
  }

  private dynamicRoute(pathname: string): Record<string, Handler> | undefined {
    const m = /^\/v1\/models\/(.+)$/.exec(pathname);
    if (!m) return undefined;
    const id = decodeURIComponent(m[1]!);
    return {
      GET: (_req, res) => {
        this.service.checkModel(id);
        sendJson(res, 200, this.modelCard());
      },
    };
  }

  private authorize(req: http.IncomingMessage): void {
    const key = this.opts.apiKey;
    if (!key) return;
    const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (given === undefined) {
      throw new ApiError(401, 'this server needs an API key: send the header "Authorization: Bearer <key>"', 'authentication_error', null, 'missing_api_key');
    }
    const a = Buffer.from(given), b = Buffer.from(key);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new ApiError(401, 'the API key is not valid', 'authentication_error', null, 'invalid_api_key');
    }
  }

  private body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    return readJsonBody(req, this.bodyLimit);
  }

  private sendPage(res: http.ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': this.page.length,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(this.page);
  }
}
