/**
 * The api's own pages (the GraphQL IDE at /graphql, about 9 MB of HTML and script; the
 * dashboard at /dashboard and its scripts), compressed once per process in brotli and gzip
 * and sent in the coding the client's Accept-Encoding comes out as (core's negotiation, the
 * edge's too: br, gzip or identity).
 *
 * Why not @fastify/compress: it compresses every response as it is sent. These bodies never
 * change while the process runs, and the IDE's brotli takes about half a second of CPU: made
 * once (on the thread pool, when first asked for) and kept, the way nginx's gzip_static serves
 * files compressed beforehand. GraphQL answers themselves are not compressed here (they are
 * small, and an edge or a proxy in front may do it).
 */
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip, type BrotliOptions, type ZlibOptions } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { negotiateCoding } from '../../core/content-coding.rules';

const brotliAsync = promisify<Buffer, BrotliOptions, Buffer>(brotliCompress);
const gzipAsync = promisify<Buffer, ZlibOptions, Buffer>(gzip);

/**
 * Brotli 6 and gzip 9: slower than the edge's defaults (5 and 6), which is fine for bodies
 * compressed once per process. Higher brotli qualities take seconds for the IDE (11: ~12 s)
 * for a few % more.
 */
const BROTLI_QUALITY = 6;
const GZIP_LEVEL = 9;

interface Encoded {
  br: Buffer;
  gzip: Buffer;
}

export class CompressedPage {
  readonly type: string;
  readonly #source: () => string | Buffer;
  #plain: Buffer | undefined;
  #encoded: Promise<Encoded> | undefined;

  /** `source` is called once, when the page is first asked for (the IDE is rendered only if someone opens it). */
  constructor(type: string, source: () => string | Buffer) {
    this.type = type;
    this.#source = source;
  }

  get plain(): Buffer {
    this.#plain ??= Buffer.from(this.#source());
    return this.#plain;
  }

  /** Both codings of the body: made once, on the thread pool; concurrent first requests wait on the same work. */
  encoded(): Promise<Encoded> {
    this.#encoded ??= (async () => {
      const plain = this.plain;
      const [br, gz] = await Promise.all([
        brotliAsync(plain, { params: { [zlib.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: plain.length } }),
        gzipAsync(plain, { level: GZIP_LEVEL }),
      ]);
      return { br, gzip: gz };
    })();
    return this.#encoded;
  }

  /**
   * Sends the page in the client's coding, with `Vary: Accept-Encoding` (whatever the coding:
   * the answer depends on it) and `X-Content-Type-Options: nosniff`. Other fields are the caller's.
   */
  async send(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const field = request.headers['accept-encoding'];
    const coding = negotiateCoding(Array.isArray(field) ? field.join(', ') : field);
    reply.type(this.type).header('vary', 'accept-encoding').header('x-content-type-options', 'nosniff');
    if (coding === 'identity') return reply.send(this.plain);
    const encoded = await this.encoded();
    return reply.header('content-encoding', coding).send(encoded[coding]);
  }
}
